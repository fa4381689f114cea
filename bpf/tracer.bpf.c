// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * Socket capture for chosen processes, from syscall tracepoints only (kprobes and fentry may be
 * absent). Filter first: one policy lookup by tgid rejects every other process; then the fd must
 * be a TCP socket (IPv4/IPv6) before a byte is copied. Data is copied at sys_exit, when the size
 * the syscall really moved is known, from the buffer pointers saved at sys_enter.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define MSG_PEEK 2
#define EINPROGRESS 115

/* Events are built in a per-CPU slot twice TE_MAX_DATA long, so that the verifier can prove every
 * copy at (pos < TE_MAX_DATA) of (len <= TE_MAX_DATA) bytes stays inside it. */
struct te_scratch {
	struct te_data_event ev;
	__u8 overflow[TE_MAX_DATA];
};

struct policy {
	__u8 mode; /* enum te_mode bits */
	__u8 inherited; /* added by fork inheritance, not by user space */
	__u8 pad[2];
};

struct conn_key {
	__u32 tgid;
	__s32 fd;
};

struct conn {
	__u64 gen;
	__u64 sent; /* stream offsets per direction */
	__u64 recv;
	__u8 role;
	__u8 ignored; /* not captured (role outside the process's mode): no events at all */
	__u8 pad[6];
};

/* Arguments saved at sys_enter for sys_exit, per thread. */
struct pending_call {
	__u64 buf; /* buffer, iovec array or msghdr */
	__s32 fd;
	__u32 count; /* iovcnt for readv/writev */
	__u8 syscall; /* enum te_syscall */
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by user space before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tgid */
	__type(value, struct policy);
} capture_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct conn);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct pending_call);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* set to the number of possible CPUs by user space */
	__type(key, __u32);
	__type(value, struct te_scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TE_CNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Keep the layout types in the object's BTF for the generator even where no code names them. */
struct te_open_event *unused_open_event __attribute__((unused));
struct te_close_event *unused_close_event __attribute__((unused));
struct te_data_event *unused_data_event __attribute__((unused));

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += n;
}

static __always_inline struct policy *selected(__u32 tgid)
{
	return bpf_map_lookup_elem(&capture_pids, &tgid);
}

/* The socket behind fd in the current task, or NULL when fd is not a socket. */
static __always_inline struct socket *socket_of_fd(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	unsigned int max_fds = BPF_CORE_READ(fdt, max_fds);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;

	if (fd < 0 || (unsigned int)fd >= max_fds)
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return NULL;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	return BPF_CORE_READ(file, private_data);
}

/* A TCP socket over IPv4 or IPv6, or NULL. */
static __always_inline struct sock *tcp_sock_of_fd(int fd)
{
	struct socket *sock = socket_of_fd(fd);
	struct sock *sk;
	__u16 family;

	if (!sock || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return NULL;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	return sk;
}

static __always_inline void fill_header(struct te_event_header *hdr, __u8 kind, __u32 tgid, int fd,
					__u64 gen)
{
	hdr->ts_ns = bpf_ktime_get_ns();
	hdr->conn.tgid = tgid;
	hdr->conn.fd = fd;
	hdr->conn.gen = gen;
	hdr->tid = (__u32)bpf_get_current_pid_tgid();
	hdr->kind = kind;
}

static __always_inline void output(void *rec, __u64 size, __u32 counter)
{
	if (bpf_ringbuf_output(&events, rec, size, 0) == 0)
		count(counter, 1);
	else
		count(TE_CNT_EVENTS_LOST, 1);
}

/* Start tracking a connection and report it (unless its role is outside the process's mode). */
static __always_inline struct conn *open_conn(__u32 tgid, int fd, __u8 role, struct sock *sk,
					      __u8 mode)
{
	struct conn_key key = { .tgid = tgid, .fd = fd };
	struct conn c = { .gen = bpf_ktime_get_ns(), .role = role };
	struct te_open_event ev = {};

	if ((role == TE_ROLE_SERVER && !(mode & TE_MODE_INGRESS)) ||
	    (role == TE_ROLE_CLIENT && !(mode & TE_MODE_EGRESS)))
		c.ignored = 1;
	if (bpf_map_update_elem(&conns, &key, &c, BPF_ANY) != 0) {
		count(TE_CNT_CONN_TABLE_FULL, 1);
		return NULL;
	}
	if (c.ignored)
		return bpf_map_lookup_elem(&conns, &key);

	fill_header(&ev.hdr, TE_EV_OPEN, tgid, fd, c.gen);
	ev.role = role;
	ev.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	ev.local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	ev.remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (ev.family == AF_INET) {
		BPF_CORE_READ_INTO(&ev.local_addr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO(&ev.remote_addr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&ev.local_addr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&ev.remote_addr, sk, __sk_common.skc_v6_daddr);
	}
	output(&ev, sizeof(ev), TE_CNT_OPEN_EVENTS);
	return bpf_map_lookup_elem(&conns, &key);
}

static __always_inline int save_call(__u8 syscall, int fd, __u64 buf, __u32 count_)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pending_call call = { .buf = buf, .fd = fd, .count = count_, .syscall = syscall };

	if (!selected(id >> 32))
		return 0;
	bpf_map_update_elem(&pending, &id, &call, BPF_ANY);
	return 0;
}

/* Copy `want` bytes of a flat user buffer to ev->data. */
static __always_inline __u32 copy_flat(struct te_scratch *s, __u64 ubuf, __u64 want)
{
	__u32 len = want > TE_MAX_DATA ? TE_MAX_DATA : (__u32)want;

	if (bpf_probe_read_user(s->ev.data, len, (void *)ubuf) != 0) {
		count(TE_CNT_COPY_FAILED, 1);
		return 0;
	}
	return len;
}

/* Copy up to `want` bytes spread over an iovec array to ev->data, walking TE_MAX_IOV entries. */
static __always_inline __u32 copy_iov(struct te_scratch *s, __u64 uiov, __u32 iovcnt, __u64 want)
{
	__u32 pos = 0;

	if (want > TE_MAX_DATA)
		want = TE_MAX_DATA;
	for (int i = 0; i < TE_MAX_IOV; i++) {
		struct iovec iov;
		__u64 n;

		if (i >= iovcnt || pos >= want)
			break;
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(uiov + i * sizeof(iov))) != 0)
			break;
		n = iov.iov_len;
		if (n > want - pos)
			n = want - pos;
		if (n > TE_MAX_DATA)
			n = TE_MAX_DATA;
		if (bpf_probe_read_user(&s->ev.data[pos & (TE_MAX_DATA - 1)], n, iov.iov_base) != 0) {
			count(TE_CNT_COPY_FAILED, 1);
			break;
		}
		pos += n;
	}
	return pos;
}

/* sys_exit of every data syscall: report the bytes it moved on a tracked (or newly seen) socket. */
static __always_inline int on_data_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct pending_call *call = bpf_map_lookup_elem(&pending, &id);
	struct pending_call c;
	struct conn_key key;
	struct conn *conn;
	struct te_scratch *s;
	__u32 cpu = bpf_get_smp_processor_id();
	__u8 dir;
	__u64 *offp;

	if (!call)
		return 0;
	c = *call;
	bpf_map_delete_elem(&pending, &id);
	if (ret <= 0)
		return 0;

	key.tgid = tgid;
	key.fd = c.fd;
	conn = bpf_map_lookup_elem(&conns, &key);
	if (!conn) {
		/* Opened before capture began (or before this process was selected). */
		struct policy *p = selected(tgid);
		struct sock *sk = tcp_sock_of_fd(c.fd);

		if (!p || !sk)
			return 0;
		conn = open_conn(tgid, c.fd, TE_ROLE_UNKNOWN, sk, p->mode);
		if (!conn)
			return 0;
	}
	if (conn->ignored)
		return 0;

	switch (c.syscall) {
	case TE_SYS_WRITE:
	case TE_SYS_WRITEV:
	case TE_SYS_SENDTO:
	case TE_SYS_SENDMSG:
	case TE_SYS_SENDFILE:
		dir = TE_DIR_SEND;
		offp = &conn->sent;
		break;
	default:
		dir = TE_DIR_RECV;
		offp = &conn->recv;
	}

	s = bpf_map_lookup_elem(&scratch, &cpu);
	if (!s)
		return 0;
	fill_header(&s->ev.hdr, TE_EV_DATA, tgid, c.fd, conn->gen);
	s->ev.offset = __sync_fetch_and_add(offp, (__u64)ret);
	s->ev.size = ret;
	s->ev.direction = dir;
	s->ev.syscall = c.syscall;
	s->ev.flags = 0;

	switch (c.syscall) {
	case TE_SYS_READV:
	case TE_SYS_WRITEV:
		s->ev.len = copy_iov(s, c.buf, c.count, ret);
		break;
	case TE_SYS_RECVMSG:
	case TE_SYS_SENDMSG: {
		struct user_msghdr msg;

		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)c.buf) != 0) {
			s->ev.len = 0;
			count(TE_CNT_COPY_FAILED, 1);
			break;
		}
		s->ev.len = copy_iov(s, (__u64)msg.msg_iov, msg.msg_iovlen, ret);
		break;
	}
	case TE_SYS_SENDFILE:
		s->ev.len = 0;
		count(TE_CNT_SENDFILE_BYTES, ret);
		break;
	default:
		s->ev.len = copy_flat(s, c.buf, ret);
	}
	if ((__u64)ret > s->ev.len && c.syscall != TE_SYS_SENDFILE)
		count(TE_CNT_BYTES_TRUNCATED, (__u64)ret - s->ev.len);

	/* len <= TE_MAX_DATA already; the mask is for the verifier, which sees the register clang
	 * passes (clang may reuse the unclamped one): it bounds the size by the scratch slot. */
	output(&s->ev, offsetof(struct te_data_event, data) + (s->ev.len & (2 * TE_MAX_DATA - 1)),
	       TE_CNT_DATA_EVENTS);
	return 0;
}

/* ---- data syscalls ---- */

SEC("tracepoint/syscalls/sys_enter_read")
int enter_read(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_READ, ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_read")
int exit_read(struct trace_event_raw_sys_exit *ctx)
{
	return on_data_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_write")
int enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_WRITE, ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_write")
int exit_write(struct trace_event_raw_sys_exit *ctx)
{
	return on_data_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int enter_readv(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_READV, ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_readv")
int exit_readv(struct trace_event_raw_sys_exit *ctx)
{
	return on_data_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_WRITEV, ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_writev")
int exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	return on_data_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[3] & MSG_PEEK) /* peeked bytes are read again later */
		return 0;
	return save_call(TE_SYS_RECVFROM, ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	return on_data_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_SENDTO, ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	return on_data_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[2] & MSG_PEEK)
		return 0;
	return save_call(TE_SYS_RECVMSG, ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	return on_data_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_SENDMSG, ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	return on_data_exit(ctx->ret);
}

/* sendfile(out_fd, in_fd, offset, count): the bytes come from a file; only the size is reported,
 * so the stream offsets stay right and user space sees a marked gap. */
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int enter_sendfile(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_SENDFILE, ctx->args[0], 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int exit_sendfile(struct trace_event_raw_sys_exit *ctx)
{
	return on_data_exit(ctx->ret);
}

/* ---- connection lifecycle ---- */

static __always_inline int on_accept_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pending_call *call = bpf_map_lookup_elem(&pending, &id);
	struct policy *p;
	struct sock *sk;

	if (!call)
		return 0;
	bpf_map_delete_elem(&pending, &id);
	p = selected(id >> 32);
	if (ret < 0 || !p)
		return 0;
	sk = tcp_sock_of_fd(ret);
	if (sk)
		open_conn(id >> 32, ret, TE_ROLE_SERVER, sk, p->mode);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept")
int enter_accept(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_ACCEPT, ctx->args[0], 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int enter_accept4(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_ACCEPT4, ctx->args[0], 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_CONNECT, ctx->args[0], 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pending_call *call = bpf_map_lookup_elem(&pending, &id);
	struct policy *p;
	struct sock *sk;
	int fd;

	if (!call)
		return 0;
	fd = call->fd;
	bpf_map_delete_elem(&pending, &id);
	p = selected(id >> 32);
	if ((ctx->ret != 0 && ctx->ret != -EINPROGRESS) || !p)
		return 0;
	sk = tcp_sock_of_fd(fd);
	if (sk)
		open_conn(id >> 32, fd, TE_ROLE_CLIENT, sk, p->mode);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct conn_key key = { .tgid = id >> 32, .fd = ctx->args[0] };
	struct conn *conn;
	struct te_close_event ev = {};

	if (!selected(key.tgid))
		return 0;
	conn = bpf_map_lookup_elem(&conns, &key);
	if (!conn)
		return 0;
	if (!conn->ignored) {
		fill_header(&ev.hdr, TE_EV_CLOSE, key.tgid, key.fd, conn->gen);
		ev.sent_bytes = conn->sent;
		ev.recv_bytes = conn->recv;
		output(&ev, sizeof(ev), TE_CNT_CLOSE_EVENTS);
	}
	bpf_map_delete_elem(&conns, &key);
	return 0;
}

/* ---- policy inheritance ---- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid;
	__u32 ctgid = child->tgid;
	struct policy *p;
	struct policy inherited;

	if (ptgid == ctgid) /* a new thread, not a new process */
		return 0;
	p = selected(ptgid);
	if (!p)
		return 0;
	inherited = *p;
	inherited.inherited = 1;
	bpf_map_update_elem(&capture_pids, &ctgid, &inherited, BPF_NOEXIST);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *task)
{
	__u32 tgid = task->tgid;

	if (task->pid != tgid) /* a thread ended; the process goes on */
		return 0;
	bpf_map_delete_elem(&capture_pids, &tgid);
	return 0;
}
