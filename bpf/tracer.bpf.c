// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * Socket capture for chosen processes, from syscall tracepoints only (kprobes and fentry may be
 * absent). Filter first: the policy (by tgid, by cgroup, or every process but the tracer)
 * rejects other processes with one lookup; then the fd must be a TCP socket (IPv4/IPv6) before a
 * byte is copied. Data is copied at sys_exit, when the size the syscall really moved is known,
 * from the buffer pointers saved at sys_enter. Every exit program inlines only the copy path its
 * syscall needs (flat buffer, iovec, msghdr, mmsghdr, size only).
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
#define MSG_OOB 1
#define MSG_PEEK 2
#define MSG_TRUNC 0x20
#define MSG_ERRQUEUE 0x2000
/* Reads whose bytes are not the stream's next: peeked bytes are read again later, the error
 * queue and urgent data are beside the stream. */
#define TE_NOT_STREAM_FLAGS (MSG_PEEK | MSG_ERRQUEUE | MSG_OOB)
#define PF_IO_WORKER 0x00000010
#define PF_KTHREAD 0x00200000
#define TE_ENOSYS 38
#define EINPROGRESS 115

/* Run-time settings; user space rewrites the .bss map. */
volatile struct te_config te_cfg;

/* The capture mode of every process (enum te_mode bits | TE_MODE_INHERITED), by tgid: one byte
 * load decides for an unselected process, where a hash lookup cost ~50 ns. User space writes its
 * selections through a memory mapping of this section; fork inheritance writes children here. */
volatile __u8 te_pid_modes[TE_PID_MODES] SEC(".data.pids");

/* Events are built in a per-CPU slot twice TE_MAX_DATA long, so that the verifier can prove every
 * copy at (pos < TE_MAX_DATA) of (len <= TE_MAX_DATA) bytes stays inside it. */
struct te_scratch {
	struct te_data_event ev;
	__u8 overflow[TE_MAX_DATA];
};

struct policy {
	__u8 mode; /* enum te_mode bits */
	__u8 pad[3];
};

struct conn_key {
	__u32 tgid;
	__s32 fd;
};

struct conn {
	__u64 gen;
	__u64 sent; /* stream offsets per direction */
	__u64 recv;
	__u64 sk; /* its struct sock: a socket-layer call on another socket is not its bytes */
	__u8 role;
	__u8 ignored; /* not captured (role outside the process's mode): no events at all */
	__u8 pad[6];
};

/* Arguments saved at sys_enter for sys_exit, per thread. */
struct pending_call {
	__u64 buf; /* buffer, iovec array, msghdr or mmsghdr array */
	__s32 fd;
	__u32 count; /* iovcnt for readv/writev */
	__u8 syscall; /* enum te_syscall; 0: no call pending */
	__u8 size_only; /* a MSG_TRUNC read: its bytes were discarded, never in the buffer */
	__u8 pad[6];
};

#ifndef TE_PERFBUF
/*
 * Set by user space before load when the kernel has task storage (5.11+): pending calls then live
 * in the thread's own storage (a pointer away) instead of a hash keyed by thread, which halved the
 * cost of sys_enter, and the fd table is reached by plain loads from the task's BTF pointer. A
 * read-only constant: the verifier drops the branch not taken, so the helpers of the other one
 * may be missing from the kernel. Its own section, so it is at offset 0.
 */
const volatile __u8 te_use_task_storage SEC(".rodata.features") = 0;
/*
 * Set by user space with te_use_task_storage when the kernel has bpf_task_pt_regs (5.15+): a
 * data call's arguments are read at sys_exit from the registers the thread entered the kernel
 * with (these calls never change them), so no program runs at sys_enter for them: half the
 * program runs per syscall. (enter_close stays: the fd is gone by sys_exit.)
 */
const volatile __u8 te_args_at_exit SEC(".rodata.features") = 0;

#define TE_NONSOCK_SLOTS 4

/* A thread's state, in its task storage. */
struct thread_state {
	struct pending_call call;
	/* fds this thread moved bytes through that were no TCP socket (fd + 1; 0: empty slot), and
	 * the file each held: a later call on the same fd holding the same file is dropped at
	 * sys_enter after one pointer comparison, instead of saving it and walking the file at exit.
	 * The file's inode number too: a closed file's struct is often reused at the same address
	 * by the next one opened (a TCP socket on the same fd number, from another thread), so the
	 * pointer alone would drop a socket's calls (seen with gRPC's C core). */
	__u64 nonsock_file[TE_NONSOCK_SLOTS];
	__u64 nonsock_ino[TE_NONSOCK_SLOTS];
	__s32 nonsock_fd[TE_NONSOCK_SLOTS];
	__u32 nonsock_next;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct thread_state);
} pending_task SEC(".maps");
#else
struct thread_state; /* task storage only */
#endif

#ifdef TE_PERFBUF
/* Kernels before 5.8: a perf event array, one buffer per CPU (libbpf sizes it to the CPUs). */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");
#else
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by user space before load */
} events SEC(".maps");
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64); /* cgroup v2 id */
	__type(value, struct policy);
} capture_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct conn);
} conns SEC(".maps");

/* Connections user space asked the kernel to stop copying (a protocol it doesn't parse). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct te_conn_key);
	__type(value, __u8);
} disabled_conns SEC(".maps");

/* LRU: an exit skipped because the policy changed mid-call leaves an entry that ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
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

/* Probe stats of captured processes: [syscall * 2] entries, [syscall * 2 + 1] exits. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TE_SYS__MAX * 2);
	__type(key, __u32);
	__type(value, __u64);
} probe_stats SEC(".maps");

/* Keeps the event layout types in the object's BTF (stack variables' types aren't) for
 * scripts/gen-layout.mjs. Never called, so never loaded. */
__noinline int te_layout_anchor(struct te_open_event *o, struct te_close_event *c,
				struct te_data_event *d, struct te_conn_key *k)
{
	return o != 0 && c != 0 && d != 0 && k != 0;
}

static __always_inline void count_in(void *map, __u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(map, &idx);
	if (v)
		*v += n;
}

static __always_inline void count(__u32 idx, __u64 n)
{
	count_in(&counters, idx, n);
}

/* The capture mode of the current process (enum te_mode bits), 0 when it isn't captured. */
static __always_inline __u8 policy_mode(__u32 tgid)
{
	struct policy *p;
	__u8 mode;

	if (tgid >= TE_PID_MODES || tgid == te_cfg.self_tgid)
		return 0;
	mode = te_pid_modes[tgid] & (TE_MODE_INGRESS | TE_MODE_EGRESS);
	if (mode)
		return mode;
	if (te_cfg.capture_all_mode)
		return te_cfg.capture_all_mode;
	if (te_cfg.cgroups_enabled) {
		__u64 cg = bpf_get_current_cgroup_id();

		p = bpf_map_lookup_elem(&capture_cgroups, &cg);
		if (p)
			return p->mode;
	}
	return 0;
}

/* The file behind fd in the current task, or NULL. */
static __always_inline struct file *file_of_fd(int fd)
{
	struct file *file = NULL;

	if (fd < 0)
		return NULL;
#ifndef TE_PERFBUF
	if (te_use_task_storage) {
		struct fdtable *fdt = bpf_get_current_task_btf()->files->fdt;

		if ((unsigned int)fd >= fdt->max_fds)
			return NULL;
		bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[fd]);
		return file;
	}
#endif
	{
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
		struct file **fds = BPF_CORE_READ(fdt, fd);

		if ((unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
			return NULL;
		bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
		return file;
	}
}

/* A TCP socket over IPv4 or IPv6 behind `file`, or NULL. */
static __always_inline struct sock *tcp_sock_of_file(struct file *file)
{
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
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

/* `ctx` is the program's context (perf buffers need it); ring buffer builds may pass NULL. */
static __always_inline void output(void *ctx, void *rec, __u64 size, __u32 counter)
{
#ifdef TE_PERFBUF
	long err = bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, rec, size);
#else
	__u64 flags = 0;
	long err;

	/* Waking the reader (irq_work, then an epoll wakeup) costs ~300 ns per record. When user
	 * space drains on a timer (wakeup_bytes set), it is woken only past that watermark; else
	 * the kernel's default: woken whenever it had caught up. */
	if (te_cfg.wakeup_bytes)
		flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= te_cfg.wakeup_bytes ?
				BPF_RB_FORCE_WAKEUP :
				BPF_RB_NO_WAKEUP;
	err = bpf_ringbuf_output(&events, rec, size, flags);
#endif
	if (err == 0)
		count(counter, 1);
	else
		count(TE_CNT_EVENTS_LOST, 1);
}

/* The connection at `key` ended (its fd closed, or found holding another socket): reported
 * unless ignored, forgotten. */
static __always_inline void close_conn(void *ctx, struct conn_key *key, struct conn *conn)
{
	if (!conn->ignored) {
		struct te_conn_key dk = { .tgid = key->tgid, .fd = key->fd, .gen = conn->gen };
		struct te_close_event ev = {};

		fill_header(&ev.hdr, TE_EV_CLOSE, key->tgid, key->fd, conn->gen);
		ev.sent_bytes = conn->sent;
		ev.recv_bytes = conn->recv;
		output(ctx, &ev, sizeof(ev), TE_CNT_CLOSE_EVENTS);
		bpf_map_delete_elem(&disabled_conns, &dk);
	}
	bpf_map_delete_elem(&conns, key);
}

/* Start tracking a connection and report it (unless its role is outside the process's mode). */
static __always_inline struct conn *open_conn(void *ctx, __u32 tgid, int fd, __u8 role,
					      struct sock *sk, __u8 mode)
{
	struct conn_key key = { .tgid = tgid, .fd = fd };
	struct conn c = { .gen = bpf_ktime_get_ns(), .sk = (__u64)sk, .role = role };
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
	bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	ev.role = role;
	ev.mode = mode;
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
	output(ctx, &ev, sizeof(ev), TE_CNT_OPEN_EVENTS);
	return bpf_map_lookup_elem(&conns, &key);
}

#ifndef TE_PERFBUF
/* The inode number behind a file (unique per socket; shared only by anonymous inodes). */
static __always_inline __u64 ino_of(struct file *file)
{
	return file ? BPF_CORE_READ(file, f_inode, i_ino) : 0;
}

/* True when this thread saw `fd` holding the same file (same struct, same inode) before and it
 * was no TCP socket. Only fds in a slot cost the file lookup; a slot whose fd holds another file
 * now is freed. */
static __always_inline bool nonsock_known(struct thread_state *ts, int fd)
{
	for (int i = 0; i < TE_NONSOCK_SLOTS; i++) {
		struct file *file;

		if (ts->nonsock_fd[i] != fd + 1)
			continue;
		file = file_of_fd(fd);
		if ((__u64)file == ts->nonsock_file[i] && ino_of(file) == ts->nonsock_ino[i])
			return true;
		ts->nonsock_fd[i] = 0;
		return false;
	}
	return false;
}

static __always_inline void nonsock_remember(struct thread_state *ts, int fd, struct file *file)
{
	__u32 i = ts->nonsock_next++ & (TE_NONSOCK_SLOTS - 1);

	if (!file)
		return;
	ts->nonsock_fd[i] = fd + 1;
	ts->nonsock_file[i] = (__u64)file;
	ts->nonsock_ino[i] = ino_of(file);
}
#endif

static __always_inline int save_call(__u8 syscall, int fd, __u64 buf, __u32 count_,
				     bool size_only)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pending_call call = {
		.buf = buf, .fd = fd, .count = count_, .syscall = syscall, .size_only = size_only
	};
	long err = 0;

	if (!policy_mode(id >> 32))
		return 0;
#ifndef TE_PERFBUF
	if (te_use_task_storage) {
		struct thread_state *ts = bpf_task_storage_get(&pending_task,
							       bpf_get_current_task_btf(), 0,
							       BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (ts && nonsock_known(ts, fd))
			return 0; /* a file, pipe, UDP or Unix socket: never copied */
		count_in(&probe_stats, syscall * 2, 1);
		if (ts)
			ts->call = call;
		else
			err = -1;
	} else
#endif
	{
		count_in(&probe_stats, syscall * 2, 1);
		err = bpf_map_update_elem(&pending, &id, &call, BPF_ANY);
	}
	if (err)
		count(TE_CNT_CALLS_UNTRACKED, 1);
	return 0;
}

#ifndef TE_PERFBUF
/*
 * `syscall`'s arguments from the registers the thread entered the kernel with: fd, buffer
 * (iovec array, msghdr, mmsghdr array), iovec count. False for a peek (its bytes are read
 * again) and for a thread whose registers can't be read.
 */
static __always_inline bool call_in_regs(struct pt_regs *regs, __u8 syscall,
					 struct pending_call *out)
{
	__u64 flags;

	out->fd = PT_REGS_PARM1_SYSCALL(regs);
	out->buf = PT_REGS_PARM2_SYSCALL(regs);
	out->count = 0;
	out->syscall = syscall;
	out->size_only = false;
	switch (syscall) {
	case TE_SYS_READV:
	case TE_SYS_WRITEV:
		out->count = PT_REGS_PARM3_SYSCALL(regs);
		break;
	case TE_SYS_RECVFROM:
	case TE_SYS_RECVMMSG:
		flags = PT_REGS_PARM4_SYSCALL(regs);
		if (flags & TE_NOT_STREAM_FLAGS)
			return false;
		out->size_only = (flags & MSG_TRUNC) != 0;
		break;
	case TE_SYS_RECVMSG:
		flags = PT_REGS_PARM3_SYSCALL(regs);
		if (flags & TE_NOT_STREAM_FLAGS)
			return false;
		out->size_only = (flags & MSG_TRUNC) != 0;
		break;
	case TE_SYS_SENDFILE:
	case TE_SYS_ACCEPT:
	case TE_SYS_ACCEPT4:
	case TE_SYS_CONNECT:
		out->buf = 0;
		break;
	}
	return true;
}

static __always_inline bool call_from_regs(__u8 syscall, struct pending_call *out)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	return regs && call_in_regs(regs, syscall, out);
}
#endif

/* The call `syscall` now returning: saved at sys_enter, or (te_args_at_exit) read from the
 * registers. Counts the exit (and, read at exit, the entry). False when there is none. An
 * unselected process is turned away by the policy (one byte) first. `*ts`: the thread's state
 * when calls wait in task storage, else NULL. */
static __always_inline bool take_call(__u8 syscall, struct pending_call *out,
				      struct thread_state **ts, struct pt_regs *socket_regs)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pending_call *call;

	*ts = NULL;
	if (!policy_mode(id >> 32))
		return false;
#ifndef TE_PERFBUF
	if (socket_regs) {
		/* Inside a socket call the fd is a socket: no non-socket fds to remember. */
		if (!call_in_regs(socket_regs, syscall, out))
			return false;
		count_in(&probe_stats, syscall * 2, 1);
		count_in(&probe_stats, syscall * 2 + 1, 1);
		return true;
	}
	if (te_args_at_exit) {
		struct thread_state *t;

		if (!call_from_regs(syscall, out))
			return false;
		t = bpf_task_storage_get(&pending_task, bpf_get_current_task_btf(), 0,
					 BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (t && nonsock_known(t, out->fd))
			return false; /* a file, pipe, UDP or Unix socket: never copied */
		count_in(&probe_stats, syscall * 2, 1);
		count_in(&probe_stats, syscall * 2 + 1, 1);
		*ts = t;
		return true;
	}
	if (te_use_task_storage) {
		struct thread_state *t =
			bpf_task_storage_get(&pending_task, bpf_get_current_task_btf(), 0, 0);

		if (!t || !t->call.syscall)
			return false;
		*out = t->call;
		t->call.syscall = 0;
		*ts = t;
	} else
#endif
	{
		call = bpf_map_lookup_elem(&pending, &id);
		if (!call)
			return false;
		*out = *call;
		bpf_map_delete_elem(&pending, &id);
	}
	count_in(&probe_stats, out->syscall * 2 + 1, 1);
	return true;
}

/*
 * Common sys_exit prologue of the data syscalls: the saved call, and its connection if it is
 * captured (tracked, or found open and tracked now as role unknown) and moved something.
 */
static __always_inline struct conn *data_conn_at(void *ctx, long ret, __u8 syscall,
						 struct pending_call *call,
						 struct pt_regs *socket_regs, struct sock *socket_sk)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct thread_state *ts;
	struct conn_key key;
	struct conn *conn;

	if (!take_call(syscall, call, &ts, socket_regs) || ret <= 0)
		return NULL;
	key.tgid = tgid;
	key.fd = call->fd;
	conn = bpf_map_lookup_elem(&conns, &key);
	if (conn && socket_sk && conn->sk != (__u64)socket_sk) {
		/* A socket call on another socket than the connection's: the fd now holds that
		 * socket (dup2/dup3 over it, close_range, a close by io_uring: no close was seen),
		 * or the call is the kernel's own, under the syscall's file. */
		if (tcp_sock_of_file(file_of_fd(call->fd)) != socket_sk)
			return NULL;
		close_conn(ctx, &key, conn);
		conn = NULL;
	}
	if (!conn) {
		/* Not a TCP socket, or one opened before capture began (or before this process was
		 * selected, or inherited, or received). */
		__u8 mode = policy_mode(tgid);
		struct file *file = file_of_fd(call->fd);
		struct sock *sk = tcp_sock_of_file(file);

#ifndef TE_PERFBUF
		if (!sk && ts)
			nonsock_remember(ts, call->fd, file);
#endif
		if (!mode || !sk || (socket_sk && sk != socket_sk))
			return NULL;
		conn = open_conn(ctx, tgid, call->fd, TE_ROLE_UNKNOWN, sk, mode);
		if (!conn)
			return NULL;
	}
	return conn->ignored ? NULL : conn;
}

static __always_inline struct conn *data_conn(void *ctx, long ret, __u8 syscall,
					      struct pending_call *call)
{
	return data_conn_at(ctx, ret, syscall, call, NULL, NULL);
}

/*
 * Gives the call's `bytes` their stream offsets at once and prepares the event header every
 * piece of the call shares (time and sizes are set per piece). False when nothing is to be
 * copied: the connection was disabled by user space.
 */
static __always_inline bool data_begin(struct conn *conn, struct pending_call *call, __u8 dir,
				       __u64 bytes)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 cpu = bpf_get_smp_processor_id();
	struct te_scratch *s;
	__u64 base = __sync_fetch_and_add(dir == TE_DIR_SEND ? &conn->sent : &conn->recv, bytes);

	if (te_cfg.disabled_any) {
		struct te_conn_key dk = { .tgid = tgid, .fd = call->fd, .gen = conn->gen };

		if (bpf_map_lookup_elem(&disabled_conns, &dk)) {
			count(TE_CNT_DISABLED_BYTES, bytes);
			return false;
		}
	}
	s = bpf_map_lookup_elem(&scratch, &cpu);
	if (!s)
		return false;
	s->ev.hdr.conn.tgid = tgid;
	s->ev.hdr.conn.fd = call->fd;
	s->ev.hdr.conn.gen = conn->gen;
	s->ev.hdr.tid = (__u32)id;
	s->ev.hdr.kind = TE_EV_DATA;
	s->ev.offset = base;
	s->ev.direction = dir;
	s->ev.syscall = call->syscall;
	s->ev.flags = 0;
	return true;
}

/* Both, for calls whose return value is their byte count. */
static __always_inline bool data_call(void *ctx, long ret, __u8 dir, __u8 syscall,
				      struct pending_call *call)
{
	struct conn *conn = data_conn(ctx, ret, syscall, call);

	return conn && data_begin(conn, call, dir, ret);
}

/* Bytes copied per syscall: te_cfg.max_capture_bytes, within [TE_MAX_DATA, chunks * TE_MAX_DATA]. */
static __always_inline __attribute__((unused)) __u64 capture_cap(void)
{
	__u64 cap = te_cfg.max_capture_bytes;

	if (cap < TE_MAX_DATA)
		return TE_MAX_DATA;
	if (cap > TE_MAX_CHUNKS * TE_MAX_DATA)
		return TE_MAX_CHUNKS * TE_MAX_DATA;
	return cap;
}

#ifdef TE_PERFBUF
/*
 * Perf buffer build (kernels before 5.8): one event per syscall (per message for mmsg), its first
 * TE_MAX_DATA bytes copied (iovecs gathered), the full size always reported. Static and inlined:
 * perf output needs the program's context, which global functions can't take on old kernels.
 */
static __always_inline void pb_emit(void *ctx, struct te_scratch *s, __u32 len, __u64 size)
{
	s->ev.hdr.ts_ns = bpf_ktime_get_ns();
	s->ev.size = size;
	s->ev.len = len;
	if (size > len && s->ev.syscall != TE_SYS_SENDFILE)
		count(TE_CNT_BYTES_TRUNCATED, size - len);
	output(ctx, &s->ev, offsetof(struct te_data_event, data) + (len & (2 * TE_MAX_DATA - 1)),
	       TE_CNT_DATA_EVENTS);
	s->ev.offset += size;
}

static __always_inline struct te_scratch *pb_scratch(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&scratch, &cpu);
}

static __always_inline void pb_emit_flat(void *ctx, __u64 ubuf, __u64 total)
{
	struct te_scratch *s = pb_scratch();
	__u32 len = total > TE_MAX_DATA ? TE_MAX_DATA : total;

	if (!s)
		return;
	barrier_var(len);
	if (len > TE_MAX_DATA)
		return;
	if (bpf_probe_read_user(s->ev.data, len, (void *)ubuf) != 0) {
		count(TE_CNT_COPY_FAILED, 1);
		len = 0;
	}
	pb_emit(ctx, s, len, total);
}

static __always_inline void pb_emit_iov(void *ctx, __u64 uiov, __u64 iovcnt, __u64 total)
{
	struct te_scratch *s = pb_scratch();
	__u32 want = total > TE_MAX_DATA ? TE_MAX_DATA : total;
	__u32 pos = 0;

	if (!s)
		return;
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
		barrier_var(n);
		if (n > TE_MAX_DATA)
			break;
		if (bpf_probe_read_user(&s->ev.data[pos & (TE_MAX_DATA - 1)], n, iov.iov_base) != 0) {
			count(TE_CNT_COPY_FAILED, 1);
			break;
		}
		pos += n;
	}
	pb_emit(ctx, s, pos, total);
}

static __always_inline void pb_emit_size(void *ctx, __u64 size)
{
	struct te_scratch *s = pb_scratch();

	if (s)
		pb_emit(ctx, s, 0, size);
}

#define EMIT_FLAT(ctx, ubuf, total) pb_emit_flat(ctx, ubuf, total)
#define EMIT_IOV(ctx, uiov, n, total) pb_emit_iov(ctx, uiov, n, total)
#define EMIT_SIZE(ctx, size) pb_emit_size(ctx, size)
/* mmsg: the first message copied, the others by size (the copy loop per message is too much for
 * the verifier inlined). */
#define MMSG_COPIED 1

#else
/*
 * One data event: `len` bytes copied from user memory at `ubuf` (at most TE_MAX_DATA) stand for
 * the next `size` bytes of the stream (len < size: the rest was not copied). The header, the
 * call's base offset and direction were set in the scratch slot by data_call. A global function:
 * the verifier checks it once, not at every call site, which keeps the walkers below cheap.
 */
__noinline int te_emit_piece(__u64 ubuf, __u64 len, __u64 size)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct te_scratch *s = bpf_map_lookup_elem(&scratch, &cpu);

	if (!s)
		return -1;
	if (len > TE_MAX_DATA)
		len = TE_MAX_DATA;
	barrier_var(len);
	if (len > TE_MAX_DATA)
		return -1;
	if (len > 0 && bpf_probe_read_user(s->ev.data, len, (void *)ubuf) != 0) {
		count(TE_CNT_COPY_FAILED, 1);
		len = 0;
	}
	s->ev.hdr.ts_ns = bpf_ktime_get_ns();
	s->ev.size = size;
	s->ev.len = len;
	if (size > len && s->ev.syscall != TE_SYS_SENDFILE)
		count(TE_CNT_BYTES_TRUNCATED, size - len);
	/* len <= TE_MAX_DATA; the mask bounds the size for the verifier (clang may pass a register
	 * it never clamped). */
	output(NULL, &s->ev, offsetof(struct te_data_event, data) + (len & (2 * TE_MAX_DATA - 1)),
	       TE_CNT_DATA_EVENTS);
	s->ev.offset += size;
	return 0;
}

/*
 * `total` bytes at `ubuf`: TE_MAX_DATA pieces while `budget` (bytes still to copy) lasts; the last
 * event carries whatever was not copied. Returns the bytes copied.
 */
__noinline __u64 te_emit_range(__u64 ubuf, __u64 total, __u64 budget)
{
	__u64 done = 0;
	__u64 copied = 0;

	for (int i = 0; i < TE_MAX_CHUNKS; i++) {
		__u64 left = total - done;
		__u64 len = left > TE_MAX_DATA ? TE_MAX_DATA : left;
		__u64 size;

		if (len > budget - copied)
			len = budget - copied;
		size = len < left && (copied + len >= budget || i == TE_MAX_CHUNKS - 1) ? left : len;
		te_emit_piece(ubuf + done, len, size);
		done += size;
		copied += len;
		if (done >= total)
			break;
	}
	return copied;
}

/*
 * Where the copied tail of a call past the cap starts: a call larger than the cap gets its first
 * cap - TE_MAX_DATA bytes and its last TE_MAX_DATA copied, the middle reported by size. The end
 * of a large write holds what follows a large body (the next HTTP/2 frames, the trailers), so a
 * parser can go on from the known bytes instead of searching. `total` when there is no tail (the
 * call fits, or the cap is one piece).
 */
static __always_inline __u64 tail_start(__u64 total, __u64 cap)
{
	if (total <= cap || cap < 2 * TE_MAX_DATA)
		return total;
	return total - TE_MAX_DATA;
}

/* A flat buffer, up to the per-syscall cap (head and tail past it). */
__noinline int te_emit_flat(__u64 ubuf, __u64 total)
{
	__u64 cap, tail;

	if (total <= TE_MAX_DATA) /* most calls: one piece */
		return te_emit_piece(ubuf, total, total);
	cap = capture_cap();
	tail = tail_start(total, cap);
	te_emit_range(ubuf, tail, tail < total ? cap - TE_MAX_DATA : cap);
	if (tail < total)
		te_emit_piece(ubuf + tail, TE_MAX_DATA, TE_MAX_DATA);
	return 0;
}

/*
 * The bytes [from, total) of an iovec array (a call's tail, at most TE_MAX_DATA): one piece per
 * iovec it touches. A function of its own so the verifier checks this walk apart from the head's.
 */
__noinline int te_emit_iov_tail(__u64 uiov, __u64 iovcnt, __u64 from, __u64 total)
{
	__u64 done = 0;
	__u64 upto = from;

	for (int i = 0; i < TE_MAX_IOV; i++) {
		struct iovec iov;
		__u64 end, start, n;

		if (i >= iovcnt || done >= total)
			break;
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(uiov + i * sizeof(iov))) != 0)
			break;
		end = done + iov.iov_len;
		if (end > total)
			end = total;
		if (end > from) {
			start = done > from ? done : from;
			n = end - start;
			te_emit_piece((__u64)iov.iov_base + (start - done), n, n);
			upto = end;
		}
		done = end;
	}
	if (upto < total)
		te_emit_piece(0, 0, total - upto);
	return 0;
}

/*
 * An iovec array: each iovec as a range (pieces never span two iovecs), sharing the per-syscall
 * cap; past the cap, the call's last TE_MAX_DATA bytes are copied too (see tail_start). iovecs
 * past TE_MAX_IOV are one size-only event.
 */
__noinline int te_emit_iov(__u64 uiov, __u64 iovcnt, __u64 total)
{
	__u64 budget = capture_cap();
	__u64 tail = tail_start(total, budget);
	__u64 done = 0;

	if (tail < total)
		budget -= TE_MAX_DATA;

	for (int i = 0; i < TE_MAX_IOV; i++) {
		struct iovec iov;
		__u64 take;

		if (i >= iovcnt || done >= tail)
			break;
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(uiov + i * sizeof(iov))) != 0)
			break;
		take = iov.iov_len < tail - done ? iov.iov_len : tail - done;
		if (take == 0)
			continue;
		budget -= te_emit_range((__u64)iov.iov_base, take, budget);
		done += take;
	}
	if (done < tail)
		te_emit_piece(0, 0, tail - done);
	if (tail < total)
		te_emit_iov_tail(uiov, iovcnt, tail, total);
	return 0;
}

#define EMIT_FLAT(ctx, ubuf, total) te_emit_flat(ubuf, total)
#define EMIT_IOV(ctx, uiov, n, total) te_emit_iov(uiov, n, total)
#define EMIT_SIZE(ctx, size) te_emit_piece(0, 0, size)
#define MMSG_COPIED TE_MAX_MMSG

#endif

/* ---- data syscalls ---- */

/* A msghdr's iovecs (sendmsg/recvmsg): by size only when the msghdr can't be read. */
static __always_inline void emit_msg(void *ctx, __u64 umsg, long ret)
{
	struct user_msghdr msg;

	if (bpf_probe_read_user(&msg, sizeof(msg), (void *)umsg) != 0) {
		count(TE_CNT_COPY_FAILED, 1);
		EMIT_SIZE(ctx, ret);
		return;
	}
	EMIT_IOV(ctx, (__u64)msg.msg_iov, msg.msg_iovlen, ret);
}

/* sendfile: the bytes come from a file; only the size is reported. */
static __always_inline void emit_sendfile(void *ctx, long ret)
{
	count(TE_CNT_SENDFILE_BYTES, ret);
	EMIT_SIZE(ctx, ret);
}


#define FLAT_EXIT(name, dir, sys)                                                                      \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                 \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                                      \
	{                                                                                          \
		struct pending_call c;                                                             \
		if (!data_call(ctx, ctx->ret, dir, sys, &c))                                       \
			return 0;                                                                  \
		if (c.size_only)                                                                   \
			EMIT_SIZE(ctx, ctx->ret);                                                  \
		else                                                                               \
			EMIT_FLAT(ctx, c.buf, ctx->ret);                                           \
		return 0;                                                                          \
	}

#define IOV_EXIT(name, dir, sys)                                                                       \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                 \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                                      \
	{                                                                                          \
		struct pending_call c;                                                             \
		if (data_call(ctx, ctx->ret, dir, sys, &c))                                          \
			EMIT_IOV(ctx, c.buf, c.count, ctx->ret);  \
		return 0;                                                                          \
	}

#define MSG_EXIT(name, dir, sys)                                                                       \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                 \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                                      \
	{                                                                                          \
		struct pending_call c;                                                             \
		if (!data_call(ctx, ctx->ret, dir, sys, &c))                                       \
			return 0;                                                                  \
		if (c.size_only)                                                                   \
			EMIT_SIZE(ctx, ctx->ret);                                                  \
		else                                                                               \
			emit_msg(ctx, c.buf, ctx->ret);                                            \
		return 0;                                                                          \
	}

/* sendmmsg/recvmmsg return a message count; each mmsghdr says how many bytes its message moved.
 * MMSG_COPIED messages are copied, up to TE_MAX_MMSG_SIZES reported (the rest by size only). */
#define MMSG_EXIT(name, dir, sys)                                                                      \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                 \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                                      \
	{                                                                                          \
		struct pending_call c;                                                             \
		long n = ctx->ret;                                                                 \
		__u64 bytes = 0;                                                                   \
		struct conn *conn = data_conn(ctx, n, sys, &c);                                      \
		if (!conn)                                                                         \
			return 0;                                                                  \
		/* The return value counts messages: sum their sizes to reserve the offsets. */    \
		for (int i = 0; i < TE_MAX_MMSG_SIZES; i++) {                                      \
			unsigned int len;                                                          \
			if (i >= n)                                                                \
				break;                                                             \
			if (bpf_probe_read_user(&len, sizeof(len),                                 \
						(void *)(c.buf + i * sizeof(struct mmsghdr) +      \
							 offsetof(struct mmsghdr, msg_len))))      \
				break;                                                             \
			bytes += len;                                                              \
		}                                                                                  \
		if (!data_begin(conn, &c, dir, bytes))                                             \
			return 0;                                                                  \
		for (int i = 0; i < TE_MAX_MMSG_SIZES; i++) {                                      \
			struct mmsghdr m;                                                          \
			if (i >= n)                                                                \
				return 0;                                                          \
			if (bpf_probe_read_user(&m, sizeof(m),                                     \
						(void *)(c.buf + i * sizeof(m))) != 0) {           \
				count(TE_CNT_COPY_FAILED, 1);                                      \
				return 0;                                                          \
			}                                                                          \
			if (m.msg_len == 0)                                                        \
				continue;                                                          \
			if (i < MMSG_COPIED && !c.size_only)                                       \
				EMIT_IOV(ctx, (__u64)m.msg_hdr.msg_iov, m.msg_hdr.msg_iovlen,      \
					 m.msg_len);                                               \
			else                                                                       \
				EMIT_SIZE(ctx, m.msg_len);                                         \
		}                                                                                  \
		if (n > TE_MAX_MMSG_SIZES)                                                         \
			count(TE_CNT_MMSG_UNACCOUNTED, n - TE_MAX_MMSG_SIZES);                     \
		return 0;                                                                          \
	}

SEC("tracepoint/syscalls/sys_enter_read")
int enter_read(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_READ, ctx->args[0], ctx->args[1], 0, false);
}
FLAT_EXIT(read, TE_DIR_RECV, TE_SYS_READ)

SEC("tracepoint/syscalls/sys_enter_write")
int enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_WRITE, ctx->args[0], ctx->args[1], 0, false);
}
FLAT_EXIT(write, TE_DIR_SEND, TE_SYS_WRITE)

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[3] & TE_NOT_STREAM_FLAGS)
		return 0;
	return save_call(TE_SYS_RECVFROM, ctx->args[0], ctx->args[1], 0, ctx->args[3] & MSG_TRUNC);
}
FLAT_EXIT(recvfrom, TE_DIR_RECV, TE_SYS_RECVFROM)

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_SENDTO, ctx->args[0], ctx->args[1], 0, false);
}
FLAT_EXIT(sendto, TE_DIR_SEND, TE_SYS_SENDTO)

SEC("tracepoint/syscalls/sys_enter_readv")
int enter_readv(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_READV, ctx->args[0], ctx->args[1], ctx->args[2], false);
}
IOV_EXIT(readv, TE_DIR_RECV, TE_SYS_READV)

SEC("tracepoint/syscalls/sys_enter_writev")
int enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_WRITEV, ctx->args[0], ctx->args[1], ctx->args[2], false);
}
IOV_EXIT(writev, TE_DIR_SEND, TE_SYS_WRITEV)

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[2] & TE_NOT_STREAM_FLAGS)
		return 0;
	return save_call(TE_SYS_RECVMSG, ctx->args[0], ctx->args[1], 0, ctx->args[2] & MSG_TRUNC);
}
MSG_EXIT(recvmsg, TE_DIR_RECV, TE_SYS_RECVMSG)

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_SENDMSG, ctx->args[0], ctx->args[1], 0, false);
}
MSG_EXIT(sendmsg, TE_DIR_SEND, TE_SYS_SENDMSG)

SEC("tracepoint/syscalls/sys_enter_recvmmsg")
int enter_recvmmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[3] & TE_NOT_STREAM_FLAGS)
		return 0;
	return save_call(TE_SYS_RECVMMSG, ctx->args[0], ctx->args[1], 0, ctx->args[3] & MSG_TRUNC);
}
MMSG_EXIT(recvmmsg, TE_DIR_RECV, TE_SYS_RECVMMSG)

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int enter_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_SENDMMSG, ctx->args[0], ctx->args[1], 0, false);
}
MMSG_EXIT(sendmmsg, TE_DIR_SEND, TE_SYS_SENDMMSG)

/* sendfile(out_fd, in_fd, offset, count): the bytes come from a file; only the size is reported,
 * so the stream offsets stay right and user space sees a marked gap. */
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int enter_sendfile(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_SENDFILE, ctx->args[0], 0, 0, false);
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int exit_sendfile(struct trace_event_raw_sys_exit *ctx)
{
	struct pending_call c;

	if (data_call(ctx, ctx->ret, TE_DIR_SEND, TE_SYS_SENDFILE, &c))
		emit_sendfile(ctx, ctx->ret);
	return 0;
}

#ifndef TE_PERFBUF
/* ---- data at the socket layer (Linux 6.3+) ----
 *
 * sock:sock_send_length and sock:sock_recv_length fire inside every socket send and receive,
 * after the bytes moved, with the byte count. Attached there (tp_btf) instead of at the exits
 * of the data syscalls, no syscall of any process runs a program unless it moves socket bytes,
 * and a BTF tracepoint calls its program directly, where a syscall tracepoint first builds a
 * trace record (see docs/architecture.md, the attach-point experiment). The syscall, and with it
 * the fd and buffers, comes from the registers the thread entered the kernel with; a socket call
 * made outside such a syscall (io_uring, kernel threads, a 32-bit process, the per-message
 * calls of sendmmsg/recvmmsg, which keep their syscall exits) matches none; a call on another
 * socket than the one the fd holds is not the fd's (the kernel's own socket under the syscall's
 * file); a tracked fd found holding another socket (dup2 over it, close_range: no close seen)
 * ends that connection and starts one. A sendfile may send in several calls: one size-only
 * event each. MSG_TRUNC reads are size-only. */

#if defined(__TARGET_ARCH_x86)
#define TE_SYSCALL_NR(regs) ((regs)->orig_ax)
/* Inside a syscall's body ax still holds the -ENOSYS the entry put there (the return value
 * comes after): work run on the way back to user space (io_uring's task work) is not the call. */
#define TE_IN_SYSCALL(regs) ((long)(regs)->ax == -TE_ENOSYS)
enum {
	TE_NR_READ = 0, TE_NR_WRITE = 1, TE_NR_READV = 19, TE_NR_WRITEV = 20,
	TE_NR_SENDFILE = 40, TE_NR_SENDTO = 44, TE_NR_RECVFROM = 45, TE_NR_SENDMSG = 46,
	TE_NR_RECVMSG = 47,
};
#elif defined(__TARGET_ARCH_arm64)
#define TE_SYSCALL_NR(regs) ((regs)->syscallno)
#define TE_IN_SYSCALL(regs) true
enum {
	TE_NR_READ = 63, TE_NR_WRITE = 64, TE_NR_READV = 65, TE_NR_WRITEV = 66,
	TE_NR_SENDFILE = 71, TE_NR_SENDTO = 206, TE_NR_RECVFROM = 207, TE_NR_SENDMSG = 211,
	TE_NR_RECVMSG = 212,
};
#else
#error "socket-layer data: syscall numbers for this architecture are missing"
#endif

enum te_shape { TE_SHAPE_FLAT, TE_SHAPE_IOV, TE_SHAPE_MSG, TE_SHAPE_SIZE };

static __always_inline int socket_data(void *ctx, struct sock *sk, long ret, __u8 dir,
				       bool size_only)
{
	struct task_struct *task;
	struct pending_call c;
	struct pt_regs *regs;
	struct conn *conn;
	__u8 sys, shape;
	__u16 family;
	long nr;

	if (ret <= 0 || !policy_mode(bpf_get_current_pid_tgid() >> 32))
		return 0;
	/* sk is the tracepoint's own (trusted) pointer: plain loads, no probe-read helper calls. */
	family = sk->__sk_common.skc_family;
	if ((family != AF_INET && family != AF_INET6) || sk->sk_type != SOCK_STREAM)
		return 0; /* UDP, Unix sockets: never copied */
	task = bpf_get_current_task_btf();
	/* Kernel threads and io_uring workers carry registers of no syscall of theirs. */
	if (task->flags & (PF_KTHREAD | PF_IO_WORKER))
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs || !TE_IN_SYSCALL(regs))
		return 0;
	nr = TE_SYSCALL_NR(regs);
	if (dir == TE_DIR_RECV) {
		switch (nr) {
		case TE_NR_READ: sys = TE_SYS_READ; shape = TE_SHAPE_FLAT; break;
		case TE_NR_RECVFROM: sys = TE_SYS_RECVFROM; shape = TE_SHAPE_FLAT; break;
		case TE_NR_READV: sys = TE_SYS_READV; shape = TE_SHAPE_IOV; break;
		case TE_NR_RECVMSG: sys = TE_SYS_RECVMSG; shape = TE_SHAPE_MSG; break;
		default: return 0;
		}
	} else {
		switch (nr) {
		case TE_NR_WRITE: sys = TE_SYS_WRITE; shape = TE_SHAPE_FLAT; break;
		case TE_NR_SENDTO: sys = TE_SYS_SENDTO; shape = TE_SHAPE_FLAT; break;
		case TE_NR_WRITEV: sys = TE_SYS_WRITEV; shape = TE_SHAPE_IOV; break;
		case TE_NR_SENDMSG: sys = TE_SYS_SENDMSG; shape = TE_SHAPE_MSG; break;
		case TE_NR_SENDFILE: sys = TE_SYS_SENDFILE; shape = TE_SHAPE_SIZE; break;
		default: return 0;
		}
	}
	conn = data_conn_at(ctx, ret, sys, &c, regs, sk);
	if (!conn || !data_begin(conn, &c, dir, ret))
		return 0;
	if (size_only) {
		EMIT_SIZE(ctx, ret); /* MSG_TRUNC: the bytes were discarded, never in the buffer */
	} else if (shape == TE_SHAPE_FLAT) {
		EMIT_FLAT(ctx, c.buf, ret);
	} else if (shape == TE_SHAPE_IOV) {
		EMIT_IOV(ctx, c.buf, c.count, ret);
	} else if (shape == TE_SHAPE_MSG) {
		emit_msg(ctx, c.buf, ret);
	} else {
		emit_sendfile(ctx, ret);
	}
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(socket_send, struct sock *sk, int ret, int flags)
{
	return socket_data(ctx, sk, ret, TE_DIR_SEND, false);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(socket_recv, struct sock *sk, int ret, int flags)
{
	if (flags & TE_NOT_STREAM_FLAGS)
		return 0;
	return socket_data(ctx, sk, ret, TE_DIR_RECV, flags & MSG_TRUNC);
}
#endif

/* ---- connection lifecycle ---- */

static __always_inline int on_accept_exit(void *ctx, long ret, __u8 syscall)
{
	struct pending_call call;
	struct thread_state *ts;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u8 mode;
	struct sock *sk;

	if (!take_call(syscall, &call, &ts, NULL) || ret < 0)
		return 0;
	mode = policy_mode(tgid);
	if (!mode)
		return 0;
	sk = tcp_sock_of_file(file_of_fd(ret));
	if (sk)
		open_conn(ctx, tgid, ret, TE_ROLE_SERVER, sk, mode);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept")
int enter_accept(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_ACCEPT, ctx->args[0], 0, 0, false);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx, ctx->ret, TE_SYS_ACCEPT);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int enter_accept4(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_ACCEPT4, ctx->args[0], 0, 0, false);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx, ctx->ret, TE_SYS_ACCEPT4);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(TE_SYS_CONNECT, ctx->args[0], 0, 0, false);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	struct pending_call call;
	struct thread_state *ts;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u8 mode;
	struct sock *sk;

	if (!take_call(TE_SYS_CONNECT, &call, &ts, NULL) ||
	    (ctx->ret != 0 && ctx->ret != -EINPROGRESS))
		return 0;
	mode = policy_mode(tgid);
	if (!mode)
		return 0;
	sk = tcp_sock_of_file(file_of_fd(call.fd));
	if (sk)
		open_conn(ctx, tgid, call.fd, TE_ROLE_CLIENT, sk, mode);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct conn_key key = { .tgid = id >> 32, .fd = ctx->args[0] };
	struct conn *conn;

	conn = bpf_map_lookup_elem(&conns, &key);
	if (!conn)
		return 0;
	count_in(&probe_stats, TE_SYS_CLOSE * 2, 1);
	close_conn(ctx, &key, conn);
	return 0;
}

/* ---- policy inheritance ---- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid;
	__u32 ctgid = child->tgid;
	__u8 mode;

	if (ptgid == ctgid || ptgid >= TE_PID_MODES || ctgid >= TE_PID_MODES)
		return 0; /* a new thread, not a new process */
	mode = te_pid_modes[ptgid] & (TE_MODE_INGRESS | TE_MODE_EGRESS);
	if (mode)
		te_pid_modes[ctgid] = mode | TE_MODE_INHERITED;
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *task)
{
	__u32 tgid = task->tgid;

	if (task->pid != tgid || tgid >= TE_PID_MODES) /* a thread ended; the process goes on */
		return 0;
	te_pid_modes[tgid] = 0; /* a later process with this pid is not selected */
	return 0;
}
