/*
 * udpecho PORT: a UDP echo server for the Podman test image, which has only
 * busybox (whose nc cannot listen on UDP). Binds [::]:PORT for IPv4 and IPv6
 * (0.0.0.0:PORT if the container has no IPv6) and sends every datagram back
 * to where it came from. Built static by test/podman/setup.sh.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: udpecho PORT\n");
    return 2;
  }
  int port = atoi(argv[1]);
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  int off = 0;
  if (fd >= 0) {
    struct sockaddr_in6 a6 = {0};
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(port);
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    if (bind(fd, (struct sockaddr *)&a6, sizeof(a6)) < 0) {
      close(fd);
      fd = -1;
    }
  }
  if (fd < 0) {
    struct sockaddr_in a4 = {0};
    a4.sin_family = AF_INET;
    a4.sin_port = htons(port);
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a4, sizeof(a4)) < 0) {
      perror("udpecho: bind");
      return 1;
    }
  }
  static char buf[65536];
  for (;;) {
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &len);
    if (n < 0) continue;
    sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&peer, len);
  }
}
