/* Load for the source benchmark: a loopback TCP connection, one thread writing `size`-byte
 * messages at `rate` writes/s (0: as fast as it can) for `seconds`, one thread reading; with a
 * fourth argument "file", the writes go to /dev/null instead (a non-socket fd); with "iovN",
 * each call is a writev of N `size`-byte iovecs (the kernel reports one event per iovec).
 * Prints "ready", waits for a line on stdin, runs, prints "writes N reads M". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static int c, s;
static volatile int done;
static long reads;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *reader(void *arg)
{
	static char buf[1 << 16];
	(void)arg;
	while (read(s, buf, sizeof(buf)) > 0)
		reads++;
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3;
	int size = argc > 2 ? atoi(argv[2]) : 64;
	double rate = argc > 3 ? atof(argv[3]) : 0;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	char line[16], msg[4096] = { 0 };
	pthread_t t;
	long writes = 0;
	double start, end;

	int to_file = argc > 4 && argv[4][0] == 'f';
	int iovcnt = argc > 4 && argv[4][0] == 'i' ? atoi(argv[4] + 3) : 0;
	struct iovec iov[64];
	int out;

	if (iovcnt < 0 || iovcnt > 64 || (long)size * (iovcnt ? iovcnt : 1) > (long)sizeof(msg))
		return 1;
	for (int i = 0; i < iovcnt; i++)
		iov[i] = (struct iovec){ .iov_base = msg + i * size, .iov_len = size };

	c = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &len) || connect(c, (struct sockaddr *)&a, sizeof(a)))
		return 1;
	s = accept(l, NULL, NULL);
	out = to_file ? open("/dev/null", O_WRONLY) : c;
	pthread_create(&t, NULL, reader, NULL);
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	start = now();
	end = start + seconds;
	for (;;) {
		if ((writes & 255) == 0) {
			double t_ = now();
			if (t_ >= end)
				break;
			if (rate > 0 && writes > (t_ - start) * rate)
				usleep(200);
		}
		if (rate > 0 && writes > (now() - start) * rate)
			continue;
		if (iovcnt ? writev(out, iov, iovcnt) != (ssize_t)size * iovcnt
			   : write(out, msg, size) != size)
			return 1;
		writes++;
	}
	shutdown(c, SHUT_WR);
	pthread_join(t, NULL);
	printf("writes %ld reads %ld seconds %.3f\n", writes, reads, now() - start);
	fflush(stdout);
	return 0;
}
