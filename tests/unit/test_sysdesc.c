/*
 * Unit tests for the system description language (src/system): the seL4
 * guide's configuration snippets parse and mean what they say, merging of
 * several files, defaults, IRQ and dataport placement, the priority
 * mapping, the `capvm run` command line, and a table of malformed
 * descriptions that must each be rejected at the right file, line, column
 * and with the right message.
 */
#include <sched.h>
#include <stdlib.h>

#include "arch/x86/layout.h"
#include "common/util.h"
#include "system/sched.h"
#include "system/supervisor.h"
#include "system/sysdesc.h"
#include "unit/test.h"

/* A host with 4 CPUs and 8 GiB, no file checks. */
static struct sd_host test_host(void)
{
	struct sd_host h;
	memset(&h, 0, sizeof(h));
	h.n_cpus = 4;
	for (int i = 0; i < 4; i++)
		h.online[i] = 1;
	h.mem_bytes = 8 * GiB;
	return h;
}

/* Parses the given texts (as files a.camkes, b.camkes, ...) and validates. */
struct loaded {
	struct sd_doc doc;
	struct sd_system sys;
	struct sd_diags diags;
	int rc;
};

static void load_texts(struct loaded *l, const char *const *texts, int n)
{
	struct sd_host h = test_host();
	static const char *const names[] = { "a.camkes", "b.camkes", "c.camkes" };

	memset(l, 0, sizeof(*l));
	l->rc = 0;
	for (int i = 0; i < n; i++)
		if (sd_parse_buffer(&l->doc, names[i], "/nonexistent", texts[i], strlen(texts[i]),
				    &l->diags) < 0)
			l->rc = -1;
	if (l->rc == 0)
		l->rc = sd_validate(&l->doc, &h, &l->sys, &l->diags);
}

static void load_one(struct loaded *l, const char *text)
{
	load_texts(l, &text, 1);
}

static void unload(struct loaded *l)
{
	sd_system_free(&l->sys);
	sd_doc_free(&l->doc);
	sd_diag_free(&l->diags);
}

static struct sd_vm *vm_named(struct loaded *l, const char *name)
{
	for (size_t i = 0; i < l->sys.n_vms; i++)
		if (!strcmp(l->sys.vms[i].name, name))
			return &l->sys.vms[i];
	return NULL;
}

static void dump_diags(const struct loaded *l)
{
	for (size_t i = 0; i < l->diags.n; i++)
		printf("  diag: %s:%d:%d: %s\n", l->diags.items[i].loc.file,
		       l->diags.items[i].loc.line, l->diags.items[i].loc.col,
		       l->diags.items[i].msg);
}

#define VM0 "assembly { composition { component VM vm0; } configuration { vm0.kernel = \"k\"; "
#define END " } }"

/* ---- the guide's snippets ---- */

TEST(guide_snippet_memory)
{
	struct loaded l;
	struct sd_vm *vm;
	load_one(&l, VM0 "vm0.ram = 128M; vm0.simple_untyped24_pool = 12; vm0.ram_large_pages = true;" END);
	dump_diags(&l);
	CHECK_EQ(l.rc, 0);
	vm = vm_named(&l, "vm0");
	CHECK(vm != NULL);
	if (vm) {
		CHECK_EQ(vm->budget, 12 * 16 * MiB);
		CHECK(vm->budget_set);
		CHECK(vm->large_pages);
		CHECK_EQ(vm->need, 128 * MiB + SD_VMM_OVERHEAD);
	}
	unload(&l);
}

TEST(guide_snippet_sched)
{
	struct loaded l;
	struct sd_vm *vm;
	struct sd_sched sc;
	load_one(&l, VM0 "vm0._priority = 97; vm0._affinity = 0;" END);
	CHECK_EQ(l.rc, 0);
	vm = vm_named(&l, "vm0");
	if (vm) {
		CHECK_EQ(vm->priority, 97);
		CHECK_EQ(vm->n_affinity, 1);
		CHECK_EQ(vm->affinity[0], 0);
		sd_sched_for(vm->priority, vm->realtime, &sc);
		CHECK_EQ(sc.policy, SCHED_OTHER);
		CHECK_EQ(sc.nice, 5);
	}
	unload(&l);
}

TEST(guide_snippet_dataport)
{
	struct loaded l;
	struct sd_vm *u, *d;
	load_one(&l,
		 "assembly {\n"
		 "  composition {\n"
		 "    component VM user_vm;\n"
		 "    component VM device_vm;\n"
		 "    connection seL4SharedData dp(from user_vm.dma, to device_vm.dma);\n"
		 "  }\n"
		 "  configuration {\n"
		 "    user_vm.kernel = \"k\"; device_vm.kernel = \"k\";\n"
		 "    dp.size = 2M;\n"
		 "    user_vm.dma_paddr = 0xc0000000;\n"
		 "    device_vm.dma_paddr = 0xc0400000;\n"
		 "  }\n"
		 "}\n");
	dump_diags(&l);
	CHECK_EQ(l.rc, 0);
	CHECK_EQ(l.sys.n_dps, 1);
	u = vm_named(&l, "user_vm");
	d = vm_named(&l, "device_vm");
	CHECK(u && d);
	if (u && d) {
		CHECK_EQ(u->n_dps, 1);
		CHECK_EQ(d->n_dps, 1);
		CHECK(u->dps[0].dp == d->dps[0].dp);
		CHECK_EQ(u->dps[0].dp->size, 2 * MiB);
		CHECK_EQ(u->dps[0].gpa, 0xc0000000);
		CHECK_EQ(d->dps[0].gpa, 0xc0400000);
		CHECK_EQ(u->need, 256 * MiB + 2 * MiB + SD_VMM_OVERHEAD);
	}
	unload(&l);
}

/* The example file carrying all three snippets. */
TEST(guide_example_file)
{
	struct sd_host h = test_host();
	struct sd_system sys;
	struct sd_diags diags = { 0 };
	char *files[] = { "examples/sel4-guide.camkes" };
	struct sd_vm *vm0;

	h.check_files = false;
	if (sd_load(files, 1, &h, &sys, &diags) < 0) {
		if (diags.n && strstr(diags.items[0].msg, "cannot read"))
			printf("  (run from the repository root)\n");
		sd_diag_print(&diags, stdout);
		CHECK(0);
	} else {
		vm0 = &sys.vms[0];
		CHECK_STR(vm0->name, "vm0");
		CHECK_EQ(vm0->budget, 192 * MiB);
		CHECK(vm0->large_pages);
		CHECK_EQ(vm0->priority, 97);
		CHECK_EQ(vm0->n_affinity, 1);
		CHECK_EQ(sys.n_dps, 1);
		CHECK_EQ(sys.dps[0].size, 4 * MiB);
		CHECK_STR(sys.name, "sel4-guide");
	}
	sd_system_free(&sys);
	sd_diag_free(&diags);
}

/* ---- language details ---- */

TEST(lexical_forms)
{
	struct loaded l;
	struct sd_vm *vm;
	load_one(&l,
		 "// line comment\n"
		 "/* block\n comment */ import <std_connector.camkes>;\n"
		 "assembly { composition { component VM vm0; };\n"
		 " configuration {\n"
		 "  vm0.kernel = \"dir/k\\\"q\";   /* trailing */\n"
		 "  vm0.ram = 0x20000000;\n"
		 "  vm0.cpus = 2;\n"
		 "  vm0._affinity = [1, 3,];\n"
		 "  vm0.net = \"tap=tap0\";\n"
		 "  vm0.rng = true; vm0.virtio_console = \"unix:/tmp/hvc\";\n"
		 "  vm0.disks = [\"a.img\", \"path=b.img,ro,irq=7\", \"ro,file=c.img\"];\n"
		 "  vm0.restart = \"on-failure\"; vm0.restart_delay = 500ms;\n"
		 "  vm0.restart_interval = 2min; vm0.restart_burst = 0;\n"
		 "  vm0.monitor = \"tcp:127.0.0.1:4444\"; vm0.console = \"file:/tmp/c\";\n"
		 " };\n"
		 "};\n");
	dump_diags(&l);
	CHECK_EQ(l.rc, 0);
	vm = vm_named(&l, "vm0");
	if (vm) {
		CHECK_STR(vm->kernel, "/nonexistent/dir/k\"q");
		CHECK_EQ(vm->ram, 512 * MiB);
		CHECK_EQ(vm->cpus, 2);
		CHECK_EQ(vm->n_affinity, 2);
		CHECK_EQ(vm->affinity[1], 3);
		/* in capvm run's attach order: disks, net, virtio console, rng */
		CHECK_EQ(vm->n_devs, 6);
		CHECK_STR(vm->devs[0].spec, "/nonexistent/a.img");
		CHECK_STR(vm->devs[1].spec, "/nonexistent/b.img,ro");
		CHECK_STR(vm->devs[2].spec, "/nonexistent/c.img,ro");
		CHECK_EQ(vm->devs[1].irq, 7);
		CHECK(!vm->devs[1].irq_auto);
		CHECK_EQ(vm->devs[0].irq, 16);
		CHECK_EQ(vm->devs[2].irq, 17);
		CHECK_EQ(vm->devs[3].kind, SD_DEV_NET);
		CHECK_STR(vm->devs[3].spec, "tap=tap0");
		CHECK_EQ(vm->devs[3].irq, 18);
		CHECK_EQ(vm->devs[4].kind, SD_DEV_VCONSOLE);
		CHECK_EQ(vm->devs[5].kind, SD_DEV_RNG);
		CHECK_EQ(vm->devs[5].irq, 20);
		CHECK_EQ(vm->restart, SD_RESTART_ON_FAILURE);
		CHECK_EQ(vm->restart_delay_ms, 500);
		CHECK_EQ(vm->restart_interval_ms, 120000);
		CHECK_EQ(vm->restart_burst, 0);
	}
	unload(&l);
}

TEST(affinity_string)
{
	struct loaded l;
	struct sd_vm *vm;
	load_one(&l, VM0 "vm0._affinity = \"0-2\";" END);
	CHECK_EQ(l.rc, 0);
	vm = vm_named(&l, "vm0");
	if (vm)
		CHECK_EQ(vm->n_affinity, 3);
	unload(&l);
}

TEST(monitor_addresses)
{
	static const struct { const char *addr; bool ok; } cases[] = {
		{ "unix:/run/m.sock", true }, { "/run/m.sock", true },
		{ "unix:/run/m,mode=qmp", true }, { "tcp:127.0.0.1:4444", true },
		{ "tcp:localhost:4444,server,nowait", true }, { "tcp:[::1]:4444", true },
		{ "tcp:0.0.0.0:4444,public=on", true },
		{ "tcp::4444", false }, { "tcp:10.0.0.1:4444", false }, { "tcp:127.0.0.1:0", false },
		{ "tcp:127.0.0.1", false }, { "telnet:x", false }, { "unix:", false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct loaded l;
		char text[512];
		snprintf(text, sizeof(text), VM0 "vm0.monitor = \"%s\";" END, cases[i].addr);
		load_one(&l, text);
		if ((l.rc == 0) != cases[i].ok) {
			printf("  %s: %s\n", cases[i].addr, l.rc == 0 ? "accepted" : "rejected");
			test_case_failed = 1;
		}
		unload(&l);
	}
}

TEST(defaults)
{
	struct loaded l;
	struct sd_vm *vm;
	load_one(&l, VM0 END);
	CHECK_EQ(l.rc, 0);
	vm = vm_named(&l, "vm0");
	if (vm) {
		CHECK_EQ(vm->ram, 256 * MiB);
		CHECK_EQ(vm->cpus, 1);
		CHECK_EQ(vm->priority, -1);
		CHECK_EQ(vm->restart, SD_RESTART_NEVER);
		CHECK_STR(vm->console, "stdio");
		CHECK_STR(vm->cmdline, SD_DEFAULT_CMDLINE);
		CHECK(!vm->budget_set);
		CHECK_EQ(vm->budget, ALIGN_UP(256 * MiB + SD_VMM_OVERHEAD, SD_BUDGET_UNIT));
	}
	unload(&l);
}

TEST(merge_override_warns)
{
	struct loaded l;
	const char *texts[] = {
		VM0 "vm0.ram = 128M;" END,
		"assembly { configuration {\n  vm0.ram = 512M; } }",
	};
	load_texts(&l, texts, 2);
	dump_diags(&l);
	CHECK_EQ(l.rc, 0);
	CHECK(vm_named(&l, "vm0") && vm_named(&l, "vm0")->ram == 512 * MiB);
	CHECK_EQ(l.diags.n, 1);
	if (l.diags.n == 1) {
		CHECK_EQ(l.diags.items[0].sev, SD_WARNING);
		CHECK_STR(l.diags.items[0].loc.file, "b.camkes");
		CHECK_EQ(l.diags.items[0].loc.line, 2);
		CHECK(strstr(l.diags.items[0].msg, "overrides the value set at a.camkes:1:") != NULL);
	}
	unload(&l);
}

TEST(dataport_auto_placement)
{
	struct loaded l;
	struct sd_vm *a;
	load_one(&l,
		 "assembly { composition { component VM a; component VM b;\n"
		 " connection seL4SharedData d1(from a.x, to b.x);\n"
		 " connection seL4SharedData d2(from a.y, to b.y);\n"
		 " connection seL4SharedData d3(from b.z, to a.z); }\n"
		 " configuration { a.kernel = \"k\"; b.kernel = \"k\";\n"
		 " d1.size = 4K; d2.size = 2M; d3.size = 8K; a.x_paddr = 0xc0001000; } }");
	dump_diags(&l);
	CHECK_EQ(l.rc, 0);
	a = vm_named(&l, "a");
	if (a && a->n_dps == 3) {
		CHECK_EQ(a->dps[0].gpa, 0xc0001000);
		CHECK_EQ(a->dps[1].gpa, 0xc0200000);        /* 2 MiB-aligned */
		CHECK_EQ(a->dps[2].gpa, 0xc0002000);        /* first 4K-aligned hole */
		for (int i = 0; i < 3; i++)
			CHECK(a->dps[i].gpa >= DATAPORT_BASE &&
			      a->dps[i].gpa + a->dps[i].dp->size <= DATAPORT_LIMIT);
	} else {
		CHECK(0);
	}
	unload(&l);
}

TEST(priority_mapping_monotonic)
{
	struct sd_sched a, b;
	for (int p = 0; p < 255; p++) {
		sd_sched_for(p, false, &a);
		sd_sched_for(p + 1, false, &b);
		CHECK(b.nice <= a.nice);
		CHECK(a.nice >= -20 && a.nice <= 19);
		sd_sched_for(p, true, &a);
		sd_sched_for(p + 1, true, &b);
		CHECK(b.rt_prio >= a.rt_prio);
		CHECK(a.policy == SCHED_FIFO && a.rt_prio >= 1 && b.rt_prio <= 49);
	}
	sd_sched_for(0, false, &a);   CHECK_EQ(a.nice, 19);
	sd_sched_for(128, false, &a); CHECK_EQ(a.nice, 0);
	sd_sched_for(255, false, &a); CHECK_EQ(a.nice, -20);
	sd_sched_for(-1, true, &a);   CHECK_EQ(a.policy, SCHED_OTHER); CHECK_EQ(a.nice, 0);
}

static int argv_has(char **argv, const char *flag, const char *val)
{
	for (char **p = argv; *p; p++)
		if (!strcmp(*p, flag) && (!val || (p[1] && !strcmp(p[1], val))))
			return 1;
	return 0;
}

TEST(run_command_line)
{
	struct loaded l;
	char **argv;
	int fds[1] = { 7 };
	load_one(&l,
		 "assembly { composition { component VM a; component VM b;\n"
		 " connection seL4SharedData d(from a.x, to b.x); }\n"
		 " configuration { a.kernel = \"/k\"; a.initrd = \"/i\"; b.kernel = \"/k\";\n"
		 " a.ram = 300M; a.cpus = 2; a.ram_large_pages = true; d.size = 2M;\n"
		 " a.disks = [\"/d.img,ro\", \"/e.img,irq=7\"]; a.monitor = \"unix:/tmp/m\";\n"
		 " a.rng = true; a.net = [\"tap=t0\"];\n"
		 " a._affinity = [2, 1]; a._priority = 200; a.realtime = true;\n"
		 " a.console = \"none\"; a.console_log = \"/tmp/c.log\"; a.log = \"/tmp/a.log\"; } }");
	dump_diags(&l);
	CHECK_EQ(l.rc, 0);
	if (l.rc == 0) {
		argv = sup_build_argv(&l.sys, 0, fds, "/tmp/sup.log");
		CHECK_STR(argv[0], "capvm");
		CHECK_STR(argv[1], "run");
		CHECK(argv_has(argv, "--name", "a"));
		CHECK(argv_has(argv, "--kernel", "/k"));
		CHECK(argv_has(argv, "--initrd", "/i"));
		CHECK(argv_has(argv, "--cmdline", SD_DEFAULT_CMDLINE));
		CHECK(argv_has(argv, "--mem", "300M"));
		CHECK(argv_has(argv, "--cpus", "2"));
		CHECK(argv_has(argv, "--hugepages", NULL));
		CHECK(argv_has(argv, "--disk", "/d.img,ro"));
		CHECK(argv_has(argv, "--disk", "/e.img,irq=7"));   /* named: passed on */
		CHECK(argv_has(argv, "--net", "tap=t0"));
		CHECK(argv_has(argv, "--rng", NULL));
		CHECK(argv_has(argv, "--monitor", "unix:/tmp/m"));
		CHECK(argv_has(argv, "--console", "none"));
		CHECK(argv_has(argv, "--console-log", "/tmp/c.log"));
		CHECK(argv_has(argv, "--log", "/tmp/a.log"));
		CHECK(argv_has(argv, "--dataport", "d,gpa=0xc0000000,size=0x200000,fd=7"));
		CHECK(argv_has(argv, "--affinity", "2,1"));
		/* realtime: SCHED_FIFO is set before exec, no nice per thread */
		CHECK(!argv_has(argv, "--priority", NULL));
		CHECK(!argv_has(argv, "--realtime", NULL));
		sup_free_argv(argv);
		argv = sup_build_argv(&l.sys, 1, fds, NULL);
		CHECK(!argv_has(argv, "--hugepages", NULL));
		CHECK(!argv_has(argv, "--log", NULL));
		CHECK(!argv_has(argv, "--priority", NULL));
		CHECK(argv_has(argv, "--mem", "256M"));
		sup_free_argv(argv);
		l.sys.vms[0].realtime = false;
		argv = sup_build_argv(&l.sys, 0, fds, "/tmp/sup.log");
		CHECK(argv_has(argv, "--priority", "200"));
		sup_free_argv(argv);
	}
	unload(&l);
}

/*
 * Device domains: the back-end's command line, the VM's vhost-user disk or
 * net device (in capvm run's attach order, after the VM's own disks),
 * --mem-shared for shared mode, no --dataport for a bounce window, and
 * the budgets.
 */
TEST(device_domain_command_lines)
{
	struct loaded l;
	char **argv;
	struct sd_vm *vm, *blk, *net;

	load_one(&l,
		 "assembly { composition { component VM a; component DeviceDomain blk0;\n"
		 " component DeviceDomain net0;\n"
		 " connection seL4SharedData w0(from blk0.dma, to a.vdb);\n"
		 " connection seL4SharedData w1(from a.eth, to net0.dma); }\n"
		 " configuration { a.kernel = \"/k\"; a.ram = 128M; a.disks = \"/own.img\";\n"
		 " blk0.blk_image = \"/d.img,ro,serial=S1\"; w0.size = 32M;\n"
		 " net0.net_tap = \"tap7\"; net0.memory = \"shared\"; net0.irq = 12; } }");
	dump_diags(&l);
	CHECK_EQ(l.rc, 0);
	if (l.rc != 0) {
		unload(&l);
		return;
	}
	l.sys.runtime_dir = strdup("/run/x");
	vm = vm_named(&l, "a");
	blk = vm_named(&l, "blk0");
	net = vm_named(&l, "net0");
	CHECK(blk->dd_kind == SD_DD_BLK && !blk->dd_shared);
	CHECK_EQ(blk->bounce, 32 * MiB);           /* from the connection's size */
	CHECK(net->dd_kind == SD_DD_NET && net->dd_shared);
	CHECK_EQ(blk->need, 32 * MiB + SD_VMM_OVERHEAD);
	CHECK_EQ(net->need, 128 * MiB + SD_VMM_OVERHEAD);   /* maps the guest's RAM */
	CHECK_EQ(vm->need, 128 * MiB + 32 * MiB + SD_VMM_OVERHEAD);
	CHECK_EQ(vm->n_devs, 3);
	CHECK(vm->devs[0].dd < 0 && vm->devs[0].irq == 16);
	CHECK(vm->devs[1].dd == 1 && vm->devs[1].irq == 17);
	CHECK(vm->devs[2].dd == 2 && vm->devs[2].irq == 12 && !vm->devs[2].irq_auto);

	argv = sup_build_argv(&l.sys, 1, NULL, NULL);
	CHECK_STR(argv[0], "capvm");
	CHECK_STR(argv[1], "backend");
	CHECK_STR(argv[2], "blk");
	CHECK(argv_has(argv, "--socket", "/run/x/blk0.sock"));
	CHECK(argv_has(argv, "--image", "/d.img,ro,serial=S1"));
	sup_free_argv(argv);
	argv = sup_build_argv(&l.sys, 2, NULL, NULL);
	CHECK_STR(argv[2], "net");
	CHECK(argv_has(argv, "--tap", "tap7"));
	sup_free_argv(argv);
	argv = sup_build_argv(&l.sys, 0, NULL, NULL);
	CHECK_STR(argv[1], "run");
	CHECK(argv_has(argv, "--disk", "/own.img"));
	CHECK(argv_has(argv, "--disk", "vhost-user=/run/x/blk0.sock,mem=isolated,bounce=32M"));
	CHECK(argv_has(argv, "--net", "vhost-user=/run/x/net0.sock,mem=shared,irq=12"));
	CHECK(argv_has(argv, "--mem-shared", NULL));
	CHECK(!argv_has(argv, "--dataport", NULL));
	sup_free_argv(argv);
	unload(&l);

	/* without sizes: the 64M default window, the dataport takes its size */
	load_one(&l, "assembly { composition { component VM a; component DeviceDomain d;\n"
		     " connection seL4SharedData w(from d.dma, to a.vda); }\n"
		     " configuration { a.kernel = \"/k\"; d.blk_image = \"/x.img\"; } }");
	CHECK_EQ(l.rc, 0);
	if (l.rc == 0) {
		CHECK_EQ(vm_named(&l, "d")->bounce, SD_DEFAULT_BOUNCE);
		CHECK_EQ(l.sys.dps[0].size, SD_DEFAULT_BOUNCE);
		argv = sup_build_argv(&l.sys, 0, NULL, NULL);
		CHECK(!argv_has(argv, "--mem-shared", NULL));
		sup_free_argv(argv);
	}
	unload(&l);
}

/* ---- malformed descriptions ---- */

struct bad_case {
	const char *name;
	const char *text;
	int line, col;
	const char *msg;   /* substring of the first error */
};

#define C1 "assembly {\n composition {\n  component VM vm0;\n }\n configuration {\n  vm0.kernel = \"k\";\n"
/* settings after C1 start on line 7, column 3 */
#define CE "\n }\n}\n"

#define DD1 "assembly {\n composition {\n  component VM vm0;\n  component DeviceDomain dd;\n" \
	"  connection seL4SharedData win(from dd.dma, to vm0.vda);\n }\n configuration {\n" \
	"  vm0.kernel = \"k\";\n"

static const struct bad_case bad_cases[] = {
	{ "missing_semicolon", "assembly {\n composition {\n  component VM vm0\n }\n}\n",
	  4, 2, "expected ';', found '}'" },
	{ "unterminated_comment", "assembly { /* no end\n", 1, 12, "unterminated comment" },
	{ "unterminated_string", C1 "  vm0.cmdline = \"abc" CE, 7, 17, "unterminated string" },
	{ "bad_character", C1 "  vm0.ram = 12M $" CE, 7, 17, "unexpected character '$'" },
	{ "top_level_garbage", "component VM vm0;\n", 1, 1, "expected 'assembly'" },
	{ "missing_value", C1 "  vm0.ram = ;" CE, 7, 13, "expected a value" },
	{ "integer_overflow", C1 "  vm0.ram = 99999999999999999999999;" CE, 7, 13,
	  "integer too large" },
	{ "bad_escape", C1 "  vm0.cmdline = \"a\\q\";" CE, 7, 19, "unknown escape sequence" },
	{ "unknown_component_type", "assembly { composition { component Foo x; } }", 1, 36,
	  "unknown component type 'Foo'" },
	{ "unknown_connection_type",
	  "assembly { composition { component VM a; component VM b;\n"
	  "connection seL4RPC c(from a.x, to b.x); } configuration { a.kernel=\"k\"; b.kernel=\"k\"; } }",
	  2, 12, "unknown connection type 'seL4RPC'" },
	{ "unknown_attribute", C1 "  vm0.colour = 3;" CE, 7, 7, "unknown attribute 'colour'" },
	{ "unknown_paddr_end", C1 "  vm0.foo_paddr = 0xc0000000;" CE, 7, 7,
	  "vm0 has no dataport end 'foo'" },
	{ "ram_wrong_type", C1 "  vm0.ram = \"lots\";" CE, 7, 13, "vm0.ram must be a size" },
	{ "ram_bare_bytes", C1 "  vm0.ram = 512;" CE, 7, 13, "did you mean a unit like 512M?" },
	{ "ram_bad_unit", C1 "  vm0.ram = 512Q;" CE, 7, 13, "unknown size unit 'Q'" },
	{ "large_pages_not_bool", C1 "  vm0.ram_large_pages = 1;" CE, 7, 25,
	  "must be true or false, not a number" },
	{ "priority_too_high", C1 "  vm0._priority = 256;" CE, 7, 19,
	  "vm0._priority = 256 is out of range (0-255)" },
	{ "priority_negative", C1 "  vm0._priority = -1;" CE, 7, 19,
	  "vm0._priority = -1 is out of range" },
	{ "priority_with_unit", C1 "  vm0._priority = 5M;" CE, 7, 19, "must be a number" },
	{ "affinity_no_such_cpu", C1 "  vm0._affinity = [0, 9];" CE, 7, 23,
	  "CPU 9 does not exist on this host" },
	{ "duplicate_component",
	  "assembly { composition {\n component VM vm0;\n component VM vm0; } }", 3, 15,
	  "duplicate name 'vm0' (first declared at bad.camkes:2:15)" },
	{ "connection_to_undeclared",
	  "assembly { composition { component VM a;\n"
	  " connection seL4SharedData d(from a.x, to ghost.x); } configuration { a.kernel=\"k\"; } }",
	  2, 43, "refers to undeclared component 'ghost'" },
	{ "end_used_twice",
	  "assembly { composition { component VM a; component VM b;\n"
	  " connection seL4SharedData d1(from a.x, to b.x);\n"
	  " connection seL4SharedData d2(from a.x, to b.y); }\n"
	  " configuration { a.kernel=\"k\"; b.kernel=\"k\"; d1.size=4K; d2.size=4K; } }",
	  3, 36, "a.x is already the end of dataport 'd1'" },
	{ "dataport_to_itself",
	  "assembly { composition { component VM a;\n"
	  " connection seL4SharedData d(from a.x, to a.y); } configuration { a.kernel=\"k\"; } }",
	  2, 43, "connects a to itself" },
	{ "setting_undeclared", C1 "  vm1.ram = 64M;" CE, 7, 3,
	  "'vm1' is not a declared component or connection" },
	{ "dataport_overlap",
	  "assembly { composition { component VM a; component VM b;\n"
	  " connection seL4SharedData d1(from a.x, to b.x);\n"
	  " connection seL4SharedData d2(from a.y, to b.y); }\n"
	  " configuration { a.kernel=\"k\"; b.kernel=\"k\"; d1.size=2M; d2.size=2M;\n"
	  " a.x_paddr = 0xc0000000;\n a.y_paddr = 0xc0100000; } }",
	  6, 14, "dataport 'd2' [0xc0100000, 0xc0300000) overlaps dataport 'd1'" },
	{ "dataport_outside_window",
	  "assembly { composition { component VM a; component VM b;\n"
	  " connection seL4SharedData d(from a.x, to b.x); }\n"
	  " configuration { a.kernel=\"k\"; b.kernel=\"k\"; d.size=4K;\n a.x_paddr = 0xd0000000; } }",
	  4, 14, "outside the dataport window" },
	{ "dataport_unaligned",
	  "assembly { composition { component VM a; component VM b;\n"
	  " connection seL4SharedData d(from a.x, to b.x); }\n"
	  " configuration { a.kernel=\"k\"; b.kernel=\"k\"; d.size=4K;\n a.x_paddr = 0xc0000010; } }",
	  4, 14, "not page-aligned" },
	{ "dataport_without_size",
	  "assembly { composition { component VM a; component VM b;\n"
	  " connection seL4SharedData d(from a.x, to b.x); } configuration { a.kernel=\"k\"; b.kernel=\"k\"; } }",
	  2, 28, "dataport 'd' has no size" },
	{ "dataport_past_window_end",
	  "assembly { composition { component VM a; component VM b;\n"
	  " connection seL4SharedData d(from a.x, to b.x); }\n"
	  " configuration { a.kernel=\"k\"; b.kernel=\"k\"; d.size=2M;\n a.x_paddr = 0xcff00000; } }",
	  4, 14, "runs past the end of the dataport window" },
	{ "dataport_over_budget",
	  "assembly { composition { component VM a; component VM b;\n"
	  " connection seL4SharedData d(from a.x, to b.x); }\n"
	  " configuration { a.kernel=\"k\"; b.kernel=\"k\"; d.size=128M; a.ram = 64M;\n"
	  " a.simple_untyped24_pool = 10; } }",
	  4, 28, "a needs 224 MiB (ram 64 MiB + dataports 128 MiB + VMM 32 MiB) but "
		 "simple_untyped24_pool = 10 allows 160 MiB" },
	{ "ram_over_budget", C1 "  vm0.ram = 1G;\n  vm0.simple_untyped24_pool = 16;" CE, 8, 31,
	  "vm0 needs 1056 MiB" },
	{ "budgets_exceed_host",
	  "assembly { composition { component VM a; component VM b; }\n"
	  " configuration { a.kernel=\"k\"; b.kernel=\"k\"; a.ram = 512M; b.ram = 512M;\n"
	  " a.simple_untyped24_pool = 36;\n b.simple_untyped24_pool = 36; } }",
	  4, 28, "add up to 1152 MiB, more than the host's 1024 MiB" },
	{ "duplicate_irq", C1 "  vm0.disks = [\"a.img,irq=17\",\n    \"b.img,irq=17\"];" CE, 8, 5,
	  "vm0: IRQ 17 is used twice (also by the device at bad.camkes:7:16)" },
	{ "reserved_irq", C1 "  vm0.net = \"tap=t0,irq=4\";" CE, 7, 13, "invalid IRQ '4'" },
	{ "no_kernel", "assembly { composition { component VM vm0; } }", 1, 39,
	  "VM vm0 has no kernel" },
	{ "bad_restart", C1 "  vm0.restart = \"sometimes\";" CE, 7, 17,
	  "vm0.restart must be \"never\", \"on-failure\" or \"always\"" },
	{ "bad_duration", C1 "  vm0.restart_delay = 5days;" CE, 7, 23, "unknown time unit 'days'" },
	{ "bad_console", C1 "  vm0.console = \"serial\";" CE, 7, 17, "vm0.console must be" },
	{ "remote_monitor", C1 "  vm0.monitor = \"tcp:0.0.0.0:4444\";" CE, 7, 17,
	  "non-loopback address" },
	{ "bad_monitor", C1 "  vm0.monitor = \"tcp:127.0.0.1:99999\";" CE, 7, 17,
	  "vm0.monitor must be \"unix:PATH\"" },
	{ "cpus_zero", C1 "  vm0.cpus = 0;" CE, 7, 14, "vm0.cpus = 0 is out of range (1-255)" },
	{ "large_pages_odd_ram", C1 "  vm0.ram = 17M; vm0.ram_large_pages = true;" CE, 3, 16,
	  "ram_large_pages needs ram to be a multiple of 2M" },
	{ "disks_not_list", C1 "  vm0.disks = 3;" CE, 7, 15, "must be a list of option strings" },
	{ "two_from_ends",
	  "assembly { composition { component VM a; component VM b; component VM c;\n"
	  " connection seL4SharedData d(from a.x, from c.x, to b.x); } }",
	  2, 40, "more than one 'from' end" },
	{ "empty_description", "// nothing here\n", 1, 1, "declares no components" },
	{ "list_nesting", C1 "  vm0.disks = [[[[[\"x\"]]]]];" CE, 7, 19, "nested too deeply" },
	{ "realtime_without_priority", C1 "  vm0.realtime = true;" CE, 3, 16,
	  "realtime = true needs a _priority" },
	{ "attribute_for_other_kind",
	  "assembly { composition { component DeviceDomain dd; }\n"
	  " configuration { dd.device = \"blk\";\n dd.kernel = \"k\"; } }", 3, 5,
	  "attribute 'kernel' does not apply to a DeviceDomain" },
	/* device domains; DD1's settings start on line 9, column 3 */
	{ "dd_unknown_device_kind", DD1 "  dd.device = \"gpu\";" CE, 9, 15,
	  "unknown device kind 'gpu' for device domain dd (known: blk, net)" },
	{ "dd_missing_image", DD1 "  dd.device = \"blk\";" CE, 9, 15,
	  "device domain dd (blk) has no image" },
	{ "dd_serves_nothing", DD1 "  dd.restart = \"always\";" CE, 4, 26,
	  "device domain dd serves no device" },
	{ "dd_image_and_tap", DD1 "  dd.blk_image = \"d.img\";\n  dd.net_tap = \"tap0\";" CE, 9, 18,
	  "sets both blk_image and net_tap" },
	{ "dd_vm_side_not_a_vm",
	  "assembly {\n composition {\n  component DeviceDomain a;\n  component DeviceDomain b;\n"
	  "  connection seL4SharedData w(from a.dma, to b.dma);\n }\n configuration {\n"
	  "  a.blk_image = \"x.img\"; b.blk_image = \"y.img\";" CE, 5, 46,
	  "connection 'w' joins two device domains (a, b); the other side of a device domain "
	  "must be a VM" },
	{ "dd_not_connected",
	  "assembly {\n composition {\n  component VM vm0;\n  component DeviceDomain dd;\n }\n"
	  " configuration {\n  vm0.kernel = \"k\";\n  dd.blk_image = \"d.img\";" CE, 4, 26,
	  "device domain dd is not connected to a VM" },
	{ "dd_window_too_small", DD1 "  dd.blk_image = \"d.img\";\n  dd.bounce_window = 64M;\n"
	  "  win.size = 2M;" CE, 11, 14,
	  "dataport 'win' (2048 KiB) is too small for the bounce window of dd "
	  "(dd.bounce_window = 65536 KiB)" },
	{ "dd_bounce_out_of_range", DD1 "  dd.blk_image = \"d.img\";\n  dd.bounce_window = 512K;" CE,
	  10, 22, "dd.bounce_window must be a multiple of 4K from 1M to 256M" },
	{ "dd_bad_memory_mode", DD1 "  dd.blk_image = \"d.img\";\n  dd.memory = \"private\";" CE,
	  10, 15, "dd.memory must be \"isolated\"" },
	{ "dd_two_domains_one_slot",
	  "assembly {\n composition {\n  component VM vm0;\n  component DeviceDomain d1;\n"
	  "  component DeviceDomain d2;\n"
	  "  connection seL4SharedData w1(from d1.dma, to vm0.vda);\n"
	  "  connection seL4SharedData w2(from d2.dma, to vm0.vda);\n }\n configuration {\n"
	  "  vm0.kernel = \"k\"; d1.blk_image = \"x.img\"; d2.blk_image = \"y.img\";" CE, 7, 48,
	  "vm0.vda is already served by device domain d1 (connection 'w1'); one device slot "
	  "has one back-end" },
	{ "dd_serves_two_vms",
	  "assembly {\n composition {\n  component VM a;\n  component VM b;\n"
	  "  component DeviceDomain dd;\n"
	  "  connection seL4SharedData w1(from dd.dma, to a.vda);\n"
	  "  connection seL4SharedData w2(from dd.dma2, to b.vda);\n }\n configuration {\n"
	  "  a.kernel = \"k\"; b.kernel = \"k\"; dd.blk_image = \"x.img\";" CE, 7, 37,
	  "device domain dd already serves a (connection 'w1' at bad.camkes:6:29)" },
	{ "dd_window_has_no_address", DD1 "  dd.blk_image = \"d.img\";\n  vm0.vda_paddr = 0xc0000000;" CE,
	  10, 7, "'win' is the bounce window of a device domain; it is not mapped into the guest" },
	{ "dd_bad_tap_name", DD1 "  dd.net_tap = \"tap/0\";" CE, 9, 16,
	  "dd.net_tap: 'tap/0' is not a network interface name" },
	{ "dd_bad_irq", DD1 "  dd.blk_image = \"d.img\";\n  dd.irq = 9;" CE, 10, 12,
	  "dd: invalid IRQ '9'" },
	{ "dd_vm_attribute", DD1 "  dd.blk_image = \"d.img\";\n  dd.ram = 64M;" CE, 10, 6,
	  "attribute 'ram' does not apply to a DeviceDomain (dd)" },
};

TEST(malformed_descriptions)
{
	int checked = 0;

	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct sd_host h = test_host();
		struct sd_doc doc = { 0 };
		struct sd_system sys = { 0 };
		struct sd_diags diags = { 0 };
		const struct sd_diag *e;
		int rc;

		if (!strcmp(bc->name, "budgets_exceed_host"))
			h.mem_bytes = GiB;  /* a small host */
		rc = sd_parse_buffer(&doc, "bad.camkes", ".", bc->text, strlen(bc->text), &diags);
		if (rc == 0)
			rc = sd_validate(&doc, &h, &sys, &diags);
		e = sd_diag_first_error(&diags);
		if (rc == 0 || !e) {
			printf("  %s: accepted, expected an error\n", bc->name);
			test_case_failed = 1;
		} else if (strcmp(e->loc.file, "bad.camkes") || e->loc.line != bc->line ||
			   e->loc.col != bc->col || !strstr(e->msg, bc->msg)) {
			printf("  %s: got %s:%d:%d: %s\n  %*s expected bad.camkes:%d:%d: ...%s...\n",
			       bc->name, e->loc.file, e->loc.line, e->loc.col, e->msg,
			       (int)strlen(bc->name), "", bc->line, bc->col, bc->msg);
			test_case_failed = 1;
		} else {
			checked++;
		}
		sd_system_free(&sys);
		sd_doc_free(&doc);
		sd_diag_free(&diags);
	}
	printf("  %d of %zu malformed descriptions rejected as expected\n", checked,
	       ARRAY_SIZE(bad_cases));
	CHECK(ARRAY_SIZE(bad_cases) >= 25);
}

/* A file that cannot be read names itself. */
TEST(missing_file)
{
	struct sd_host h = test_host();
	struct sd_system sys;
	struct sd_diags diags = { 0 };
	char *files[] = { "/nonexistent/x.camkes" };
	const struct sd_diag *e;

	CHECK(sd_load(files, 1, &h, &sys, &diags) < 0);
	e = sd_diag_first_error(&diags);
	CHECK(e && !strcmp(e->loc.file, "/nonexistent/x.camkes") && strstr(e->msg, "cannot read"));
	sd_system_free(&sys);
	sd_diag_free(&diags);
}

int main(void)
{
	RUN(guide_snippet_memory);
	RUN(guide_snippet_sched);
	RUN(guide_snippet_dataport);
	RUN(guide_example_file);
	RUN(lexical_forms);
	RUN(affinity_string);
	RUN(monitor_addresses);
	RUN(defaults);
	RUN(merge_override_warns);
	RUN(dataport_auto_placement);
	RUN(priority_mapping_monotonic);
	RUN(run_command_line);
	RUN(device_domain_command_lines);
	RUN(malformed_descriptions);
	RUN(missing_file);
	return test_exit();
}
