/* A cost experiment, not the tracer: the least a capture of nginx's HTTP traffic can do in the
 * kernel, attached two ways, to tell what the attach points cost from what the tracer's programs
 * do. For the selected processes (a byte per pid in .data.pids), each socket send or receive
 * becomes one ring buffer record with its first 256 bytes (a writev's first iovec; a sendfile by
 * size only), the syscall's arguments read from the task's saved registers.
 *
 * Built twice (bench/attach-cost.mjs):
 *   default        tp_btf on sock:sock_send_length and sock:sock_recv_length (Linux >= 6.3),
 *                  which fire inside the socket layer for every send and receive of any
 *                  process, whatever the syscall (and for io_uring too);
 *   -DSYSCALL_EXITS tracepoints at the exits of recvfrom, writev and sendfile64, the syscalls
 *                  nginx moves its HTTP/1 bytes with, as the tracer attaches (any enabled
 *                  syscall tracepoint sends every syscall of every task through the kernel's
 *                  slow syscall path). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define NPIDS (4u << 20)
#define SNAP 256
#define NR_WRITEV 20
#define NR_SENDFILE 40

volatile __u8 pids[NPIDS] SEC(".data.pids");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

struct record {
	__u64 ts_ns;
	__u32 tgid;
	__s32 fd;
	__s64 ret;
	__u32 nr;
	__u32 len;
	__u8 data[SNAP];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct record);
} scratch SEC(".maps");

static __always_inline int capture(long ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct pt_regs *regs;
	struct record *r;
	__u32 zero = 0;
	__u64 buf;
	__u32 len;

	if (tgid >= NPIDS || !pids[tgid] || ret <= 0)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	r = bpf_map_lookup_elem(&scratch, &zero);
	if (!regs || !r)
		return 0;
	r->ts_ns = bpf_ktime_get_ns();
	r->tgid = tgid;
	r->fd = PT_REGS_PARM1_SYSCALL(regs);
	r->ret = ret;
	r->nr = regs->orig_ax;
	buf = PT_REGS_PARM2_SYSCALL(regs);
	len = ret > SNAP ? SNAP : ret;
	if (r->nr == NR_WRITEV) {
		struct iovec iov = {};

		bpf_probe_read_user(&iov, sizeof(iov), (void *)buf);
		buf = (__u64)iov.iov_base;
		if (len > iov.iov_len)
			len = iov.iov_len;
	} else if (r->nr == NR_SENDFILE) {
		len = 0;
	}
	len &= 2 * SNAP - 1; /* bounds for the verifier: len <= SNAP already */
	if (len > SNAP)
		len = SNAP;
	if (len)
		bpf_probe_read_user(r->data, len, (void *)buf);
	r->len = len;
	bpf_ringbuf_output(&events, r, offsetof(struct record, data) + (len & (2 * SNAP - 1)), 0);
	return 0;
}

#ifdef SYSCALL_EXITS
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	return capture(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_writev")
int exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	return capture(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int exit_sendfile(struct trace_event_raw_sys_exit *ctx)
{
	return capture(ctx->ret);
}
#else
SEC("tp_btf/sock_send_length")
int BPF_PROG(send_length, struct sock *sk, int ret, int flags)
{
	return capture(ret);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(recv_length, struct sock *sk, int ret, int flags)
{
	return capture(ret);
}
#endif
