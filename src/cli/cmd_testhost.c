/* capvm testhost: placeholder until its issue lands. */
#include <stdio.h>

#include "cli/commands.h"

int cmd_testhost(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "capvm testhost: not implemented yet\n");
	return 2;
}
