/* The capvm subcommands, one file each in src/cli/ (cmd_<name>.c). */
#ifndef CAPVM_COMMANDS_H
#define CAPVM_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_testhost(int argc, char **argv);
int cmd_system(int argc, char **argv);
int cmd_health(int argc, char **argv);
int cmd_system_install(int argc, char **argv);
int cmd_guest_check(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_debug_bundle(int argc, char **argv);
int cmd_backend(int argc, char **argv);

#endif
