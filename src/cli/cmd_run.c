/* capvm run: placeholder until the VMM core lands. */
#include <stdio.h>

#include "cli/commands.h"

int cmd_run(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "capvm run: not implemented yet\n");
	return 2;
}
