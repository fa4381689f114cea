/* Calibration for the kernel benchmark: programs that do nothing, attached to the same
 * tracepoints as the tracer's write probes. Their bpf_stats run time per call is what the
 * statistics themselves and the program call cost, the floor under any program's figure. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tracepoint/syscalls/sys_enter_write")
int te_empty_enter(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_write")
int te_empty_exit(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
