/* Loads a BPF object (argv[1]), marks the pids argv[2..] in its .data.pids section, attaches
 * every program and drains its "events" ring buffer every 10 ms (records waiting in between
 * cost the kernel no wakeup, as with the tracer's coalesced drains) until SIGTERM; then prints
 * the records and bytes read. "ready" on stderr once attached. For bench/attach-cost.mjs. */
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static long records, bytes;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	records++;
	bytes += size;
	return 0;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *map;
	struct ring_buffer *rb;

	if (argc < 2) {
		fprintf(stderr, "usage: bpf-reader OBJECT [PID...]\n");
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "bpf-reader: cannot open %s\n", argv[1]);
		return 1;
	}
	bpf_object__for_each_map(map, obj) {
		size_t size;
		unsigned char *pids;

		if (strcmp(bpf_map__name(map), ".data.pids") != 0)
			continue;
		pids = (unsigned char *)bpf_map__initial_value(map, &size);
		for (int i = 2; i < argc; i++) {
			long pid = strtol(argv[i], NULL, 10);

			if (pid > 0 && (size_t)pid < size)
				pids[pid] = 1;
		}
	}
	if (bpf_object__load(obj) != 0) {
		fprintf(stderr, "bpf-reader: cannot load %s\n", argv[1]);
		return 1;
	}
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__attach(prog)) {
			fprintf(stderr, "bpf-reader: cannot attach %s\n", bpf_program__name(prog));
			return 1;
		}
	}
	rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "events")), on_record,
			      NULL, NULL);
	if (!rb) {
		fprintf(stderr, "bpf-reader: no ring buffer\n");
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	fprintf(stderr, "ready\n");
	while (!stop) {
		ring_buffer__consume(rb);
		usleep(10000);
	}
	ring_buffer__consume(rb);
	printf("%ld %ld\n", records, bytes);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
