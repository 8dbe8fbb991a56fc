/* capvm system: placeholder until its issue lands. */
#include <stdio.h>

#include "cli/commands.h"

int cmd_system(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "capvm system: not implemented yet\n");
	return 2;
}
