/*
 * The system description: a CAmkES-flavoured file that declares every VM of
 * a system and what each may use (RAM budget, CPUs, priority, devices,
 * IRQs, shared-memory dataports), and the device domains (vhost-user
 * back-end processes) that serve a VM's devices through a connection that
 * names their bounce window.  See docs/system-description.md.
 *
 * Processing has three steps, each in its own file:
 *   lexer.c     text -> tokens
 *   parse.c     tokens -> struct sd_doc: the raw declarations and settings of
 *               one or more files, merged in order (later settings override
 *               earlier ones, with a warning)
 *   validate.c  struct sd_doc -> struct sd_system: typed, checked, with
 *               defaults filled in, IRQs and dataport addresses assigned
 * Every problem is reported as a struct sd_diag (file, line, column,
 * message); nothing is started when any error was reported.
 */
#ifndef CAPVM_SYSTEM_SYSDESC_H
#define CAPVM_SYSTEM_SYSDESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- locations and diagnostics ---- */

struct sd_loc {
	const char *file;   /* owned by the sd_doc (its file name table) */
	int line, col;      /* 1-based */
};

enum sd_severity { SD_WARNING, SD_ERROR };

struct sd_diag {
	enum sd_severity sev;
	struct sd_loc loc;
	char msg[256];
};

struct sd_diags {
	struct sd_diag *items;
	size_t n, cap;
	size_t n_errors;
};

void sd_diag_add(struct sd_diags *d, enum sd_severity sev, struct sd_loc loc,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* First error (or NULL). */
const struct sd_diag *sd_diag_first_error(const struct sd_diags *d);
/* Print "file:line:col: error: msg" lines. */
void sd_diag_print(const struct sd_diags *d, FILE *f);
void sd_diag_free(struct sd_diags *d);

/* ---- raw document (parse.c) ---- */

enum sd_vtype { SD_V_INT, SD_V_BOOL, SD_V_STR, SD_V_LIST };

struct sd_value {
	enum sd_vtype type;
	struct sd_loc loc;
	uint64_t num;          /* SD_V_INT: magnitude */
	bool neg;              /* SD_V_INT: written with a leading '-' */
	char suffix[8];        /* SD_V_INT: unit letters after the digits ("" if none) */
	bool b;                /* SD_V_BOOL */
	char *str;             /* SD_V_STR */
	struct sd_value *items;/* SD_V_LIST */
	size_t n_items;
};

struct sd_component {
	char *type, *name;
	struct sd_loc loc;       /* of the name */
	struct sd_loc type_loc;
};

struct sd_endpoint {
	char *comp, *end;
	struct sd_loc loc;       /* of comp */
};

struct sd_connection {
	char *type, *name;
	struct sd_loc loc, type_loc;
	struct sd_endpoint from, to;
};

struct sd_setting {
	char *target, *attr;
	struct sd_loc loc;       /* of target */
	struct sd_loc attr_loc;
	struct sd_value val;
};

struct sd_doc {
	struct sd_component *comps;  size_t n_comps;
	struct sd_connection *conns; size_t n_conns;
	struct sd_setting *sets;     size_t n_sets;
	char **files;                size_t n_files; /* names used by sd_loc */
	char **dirs;                 /* directory of each file (relative paths) */
};

/*
 * Parse one file's text (name is used in diagnostics) and merge it into doc.
 * dir is the directory relative paths in the file are resolved against
 * (NULL: "."). Returns 0, or -1 after adding an error to diags.
 */
int sd_parse_buffer(struct sd_doc *doc, const char *name, const char *dir,
		    const char *text, size_t len, struct sd_diags *diags);
/* Read PATH and sd_parse_buffer() it. */
int sd_parse_file(struct sd_doc *doc, const char *path, struct sd_diags *diags);
void sd_doc_free(struct sd_doc *doc);

/* ---- the validated system (validate.c) ---- */

/* Memory the VMM process needs besides guest RAM and dataports (page
 * tables, device buffers, its own code); counted in the budget. */
#define SD_VMM_OVERHEAD     (32ULL << 20)
#define SD_BUDGET_UNIT      (16ULL << 20)   /* simple_untyped24_pool: 2^24 bytes */
#define SD_MAX_VMS          64
#define SD_MAX_CPUS         1024
#define SD_MAX_DEVICES      16
#define SD_MAX_DATAPORTS    16              /* per VM */
#define SD_MIN_RAM          (16ULL << 20)
#define SD_DEFAULT_CMDLINE  "console=ttyS0"
/* A device domain's bounce window (isolated mode): the seL4 guide sizes
 * its SWIOTLB window 32M, 64M or 128M; 64M is its usual choice. */
#define SD_DEFAULT_BOUNCE   (64ULL << 20)
#define SD_MIN_BOUNCE       (1ULL << 20)
#define SD_MAX_BOUNCE       (256ULL << 20)
/* How long the supervisor waits for a device domain's socket to accept. */
#define SD_DD_READY_TIMEOUT_MS 30000

enum sd_kind { SD_KIND_VM, SD_KIND_DEVICE_DOMAIN };
enum sd_restart { SD_RESTART_NEVER, SD_RESTART_ON_FAILURE, SD_RESTART_ALWAYS };
/* in the order capvm run attaches them (which decides their IRQ lines) */
enum sd_dev_kind { SD_DEV_DISK, SD_DEV_NET, SD_DEV_VCONSOLE, SD_DEV_RNG };
/* what a device domain serves: a capvm backend kind */
enum sd_dd_kind { SD_DD_NONE, SD_DD_BLK, SD_DD_NET };

struct sd_device {
	enum sd_dev_kind kind;
	char *spec;          /* option string for capvm run (paths resolved) */
	int irq;             /* GSI */
	bool irq_auto;       /* assigned by capvm, not named in the description */
	struct sd_loc loc;
	int dd;              /* index (sd_system.vms) of the device domain that
			      * serves it over vhost-user; -1: served in the VMM */
};

struct sd_dataport;

/* One end of a dataport as one VM sees it. */
struct sd_dp_map {
	struct sd_dataport *dp;
	char *end;           /* interface name in the connection */
	uint64_t gpa;
	bool gpa_auto;
	struct sd_loc gpa_loc;  /* of the _paddr setting (or the connection) */
};

struct sd_vm {
	char *name;
	enum sd_kind kind;
	struct sd_loc loc;
	char *kernel, *initrd, *cmdline;
	uint64_t ram;
	int cpus;
	int priority;        /* seL4 scale 0..255, -1: not set */
	bool realtime;
	int affinity[SD_MAX_CPUS]; /* CPU numbers */
	int n_affinity;      /* 0: not pinned */
	uint64_t budget;     /* bytes */
	bool budget_set;     /* simple_untyped24_pool given */
	uint64_t need;       /* ram + dataports + overhead */
	bool large_pages;
	struct sd_device devs[SD_MAX_DEVICES];
	int n_devs;
	struct sd_dp_map dps[SD_MAX_DATAPORTS];
	int n_dps;
	char *console, *console_log, *monitor, *log;
	struct sd_loc budget_loc;  /* simple_untyped24_pool setting, else component */
	enum sd_restart restart;
	uint64_t restart_delay_ms, restart_interval_ms;
	int restart_burst;
	/* DeviceDomain only: the back-end it runs and the VM it serves */
	char *dd_device;     /* "blk" or "net" as written (device = ...) */
	enum sd_dd_kind dd_kind;
	char *dd_image;      /* blk: image path (absolute) and options, as
			      * `capvm backend blk --image` takes them */
	char *dd_tap;        /* net: tap device name */
	bool dd_shared;      /* memory = "shared": the back-end maps all guest RAM */
	uint64_t bounce;     /* memory = "isolated": bounce window bytes */
	bool bounce_set;     /* bounce_window given */
	int dd_irq;          /* irq = N for the device in the VM (0: assigned) */
	int dd_vm;           /* index of the VM it serves (-1: none) */
	struct sd_dataport *dd_dp; /* the connection to that VM */
	struct sd_loc device_loc, bounce_loc;
	char *watchdog_action;   /* capvm run --watchdog (NULL: not given) */
	unsigned watchdog_timeout_s; /* capvm run --watchdog-timeout (0: not given) */
	char *on_failure;        /* command run by `sh -c` when the VM fails (NULL: none) */
};

struct sd_dataport {
	char *name;
	uint64_t size;
	struct sd_loc loc;
	int vm[2];           /* indexes into sd_system.vms: from, to */
	bool size_set;
	struct sd_loc size_loc;  /* of the size setting (or the connection) */
	/* a connection between a device domain and a VM: in isolated mode the
	 * bounce window that the VMM creates and shares with the back-end
	 * (never mapped into the guest, no memfd of the supervisor's) */
	bool bounce;
};

struct sd_system {
	char *name;          /* basename of the first file, without extension */
	struct sd_vm *vms;   size_t n_vms;
	struct sd_dataport *dps; size_t n_dps;
	char **files; size_t n_files; /* file names that diagnostics point to */
	char *runtime_dir;   /* where device domains' sockets go (NULL: the
			      * default, see sup_runtime_dir()) */
};

/* What the host offers; sd_host_probe() fills it from the running system. */
struct sd_host {
	int n_cpus;                    /* CPUs 0..n_cpus-1 may exist */
	unsigned char online[SD_MAX_CPUS]; /* 1 if CPU i is online */
	uint64_t mem_bytes;            /* MemTotal */
	bool check_files;              /* kernel/initrd/disk files must exist */
};

void sd_host_probe(struct sd_host *h);

/*
 * Check doc and build sys.  Returns 0 when no error was added to diags
 * (warnings may have been), -1 otherwise; sys is then incomplete but can
 * be freed.
 */
int sd_validate(const struct sd_doc *doc, const struct sd_host *host,
		struct sd_system *sys, struct sd_diags *diags);
void sd_system_free(struct sd_system *sys);

/* Parse and validate files in one go (what `system check/up` do). */
int sd_load(char *const *files, int n_files, const struct sd_host *host,
	    struct sd_system *sys, struct sd_diags *diags);

/* Human-readable summary of what each VM will get. */
void sd_system_print(const struct sd_system *sys, FILE *f);

/*
 * A monitor address as capvm run takes it: "unix:PATH", a bare PATH with a
 * '/', or "tcp:HOST:PORT" ("[::1]" for IPv6, "" for every interface),
 * each optionally followed by ",opt" (mode=hmp|qmp|readline|control,
 * public=on, QEMU's server/nowait ...).  Returns 0 or -1.
 */
struct sd_monitor_addr {
	bool is_unix;
	char path[108];
	char host[256];
	char port[8];
	bool qmp;          /* mode=qmp or mode=control */
	bool public_ok;    /* public=on */
};
int sd_monitor_parse(const char *text, struct sd_monitor_addr *out);
/* Connect to a monitor as a client (src/system/monitor_client.c): a
 * blocking socket, or -errno; a TCP connect waits at most timeout_ms. */
int sd_monitor_connect(const struct sd_monitor_addr *a, int timeout_ms);

/* Names for enums (for summaries, status and logs). */
const char *sd_restart_name(enum sd_restart r);
const char *sd_kind_name(enum sd_kind k);
const char *sd_dd_kind_name(enum sd_dd_kind k);

#endif
