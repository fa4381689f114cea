/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The kernel -> user event layout, defined once.
 *
 * scripts/gen-layout.mjs reads the struct layouts from the compiled object's BTF and the enums and
 * TE_* defines from this file, and writes packages/bpf-source/src/generated/layout.ts. A unit test
 * regenerates it and fails if the committed copy differs, so user space can't drift from this file.
 *
 * Every record starts with struct te_event_header; `kind` tells which record follows.
 * Fixed-width fields only, naturally aligned, so the layout is the same for clang and for readers.
 */
#ifndef TE_EVENTS_H
#define TE_EVENTS_H

/* Bytes copied from one syscall into one data event (a power of two). */
#define TE_MAX_DATA 16384
/* iovec entries walked per readv/writev/sendmsg/recvmsg call (gRPC's C core sends more than 16
 * slices in one sendmsg: a size-only tail there cuts HTTP/2 framing, which can't resync). */
#define TE_MAX_IOV 64
/* Events one syscall may be split into: at most TE_MAX_CHUNKS * TE_MAX_DATA bytes copied. */
#define TE_MAX_CHUNKS 8
/* sendmmsg/recvmmsg: messages copied (one event each), and messages whose sizes are reported. */
#define TE_MAX_MMSG 8
#define TE_MAX_MMSG_SIZES 64

enum te_event_kind {
	TE_EV_OPEN = 1,
	TE_EV_DATA = 2,
	TE_EV_CLOSE = 3,
};

enum te_role {
	TE_ROLE_UNKNOWN = 0, /* opened before capture began: inferred from the protocol later */
	TE_ROLE_SERVER = 1, /* accepted */
	TE_ROLE_CLIENT = 2, /* connected */
};

enum te_direction {
	TE_DIR_SEND = 1,
	TE_DIR_RECV = 2,
};

/* The syscall that moved a data event's bytes. */
enum te_syscall {
	TE_SYS_READ = 1,
	TE_SYS_WRITE = 2,
	TE_SYS_READV = 3,
	TE_SYS_WRITEV = 4,
	TE_SYS_RECVFROM = 5,
	TE_SYS_SENDTO = 6,
	TE_SYS_RECVMSG = 7,
	TE_SYS_SENDMSG = 8,
	TE_SYS_ACCEPT = 9,
	TE_SYS_ACCEPT4 = 10,
	TE_SYS_CONNECT = 11,
	TE_SYS_CLOSE = 12,
	TE_SYS_SENDFILE = 13, /* size only: the bytes come from a file, not user memory */
	TE_SYS_RECVMMSG = 14,
	TE_SYS_SENDMMSG = 15,
	TE_SYS__MAX = 16,
};

/* Capture modes in the policy map (bits). */
enum te_mode {
	TE_MODE_INGRESS = 1, /* server side: accepted connections */
	TE_MODE_EGRESS = 2, /* client side: connected ones */
};

/* Capture mode per process, indexed by tgid: PID_MAX_LIMIT on 64-bit, so every pid fits. */
#define TE_PID_MODES 4194304
/* In a te_pid_modes byte: the entry came from fork inheritance, not from user space. */
#define TE_MODE_INHERITED 128

/* Indexes of the per-CPU counters map. */
enum te_counter {
	TE_CNT_OPEN_EVENTS = 0,
	TE_CNT_DATA_EVENTS = 1,
	TE_CNT_CLOSE_EVENTS = 2,
	TE_CNT_EVENTS_LOST = 3, /* ring buffer full: the event was dropped in the kernel */
	TE_CNT_BYTES_TRUNCATED = 4, /* bytes a syscall moved beyond what one event copies */
	TE_CNT_CONN_TABLE_FULL = 5, /* a connection could not be tracked: conns map full */
	TE_CNT_COPY_FAILED = 6, /* bpf_probe_read_user failed: bytes counted but not copied */
	TE_CNT_SENDFILE_BYTES = 7, /* bytes sent by sendfile: reported as size-only events */
	TE_CNT_DISABLED_BYTES = 8, /* bytes on connections user space disabled: not copied */
	TE_CNT_MMSG_UNACCOUNTED = 9, /* sendmmsg/recvmmsg messages past TE_MAX_MMSG_SIZES */
	TE_CNT_CALLS_UNTRACKED = 10, /* a call's arguments could not be kept from enter to exit */
	TE_CNT__MAX = 11,
};

/* Run-time settings user space writes into the object's .bss (variable te_cfg). */
struct te_config {
	__u32 self_tgid; /* the tracer: never captured */
	__u8 capture_all_mode; /* enum te_mode bits for every process; 0: only the selected ones */
	__u8 cgroups_enabled; /* look processes up in capture_cgroups too */
	__u8 disabled_any; /* some connection was disabled: consult disabled_conns */
	__u8 pad;
	__u64 max_capture_bytes; /* bytes copied per syscall (a multiple of TE_MAX_DATA) */
	/* Ring buffer: wake the reader only once this many bytes wait (it also drains on a timer);
	 * 0: the kernel's default, a wakeup whenever the reader had caught up (each record, under
	 * a fast reader: ~300 ns per event). */
	__u64 wakeup_bytes;
};

/* Key of the per-connection disable map. */
struct te_conn_key {
	__u32 tgid;
	__s32 fd;
	__u64 gen;
};

/* A connection: the fd of a process, plus a generation (open time) so fd reuse never merges two. */
struct te_conn_id {
	__u32 tgid;
	__s32 fd;
	__u64 gen;
};

struct te_event_header {
	__u64 ts_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	struct te_conn_id conn;
	__u32 tid;
	__u8 kind; /* enum te_event_kind */
	__u8 pad[3];
};

struct te_open_event {
	struct te_event_header hdr;
	__u8 role; /* enum te_role */
	__u8 mode; /* enum te_mode bits of the process: user space applies it once it knows the role */
	__u16 family; /* AF_INET or AF_INET6 */
	__u16 local_port; /* host byte order */
	__u16 remote_port; /* host byte order */
	__u8 local_addr[16]; /* IPv4: first 4 bytes */
	__u8 remote_addr[16];
	char comm[16]; /* the process's name when the connection was seen (short-lived clients exit) */
};

struct te_close_event {
	struct te_event_header hdr;
	__u64 sent_bytes; /* offsets reached: bytes the process sent and received on it */
	__u64 recv_bytes;
};

struct te_data_event {
	struct te_event_header hdr;
	__u64 offset; /* position of data[0] in this connection's stream in `direction` */
	__u64 size; /* bytes the syscall moved; len < size means the copy was truncated */
	__u32 len; /* bytes in data[] */
	__u8 direction; /* enum te_direction */
	__u8 syscall; /* enum te_syscall */
	__u16 flags;
	__u8 data[TE_MAX_DATA];
};

#endif
