/*
 * main: command line.  `slotd [-c FILE]` serves; `-t` checks the
 * configuration; `migrate` brings the database schema up to date; `dump`
 * prints the shared slot table of a running instance.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotd.h"

#ifndef SLOTD_CONFIG
#define SLOTD_CONFIG	"/etc/slotd/slotd.conf"
#endif

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: slotd [-c FILE] [-t] [serve | migrate | dump]\n"
	    "  -c FILE  configuration (default " SLOTD_CONFIG ")\n"
	    "  -t       check the configuration and exit\n"
	    "  -V       print the version\n"
	    "  serve    run the service (default)\n"
	    "  migrate  apply pending database migrations and exit\n"
	    "  dump     print the shared slot table of a running instance\n");
}

int
main(int argc, char *argv[])
{
	const char *path = SLOTD_CONFIG, *cmd = "serve";
	struct config *conf;
	char err[1024];
	int ch, check = 0, rc;

	log_init("slotd", LOG_LEVEL_INFO);
	while ((ch = getopt(argc, argv, "c:thV")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'V':
			printf("slotd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		cmd = argv[optind++];
	if (optind < argc || (strcmp(cmd, "serve") != 0 &&
	    strcmp(cmd, "migrate") != 0 && strcmp(cmd, "dump") != 0)) {
		usage(stderr);
		return 2;
	}
	if ((conf = config_load(path, err, sizeof(err))) == NULL) {
		log_warnx("%s", err);
		return 1;
	}
	log_set_level(conf->log_level);
	if (check) {
		printf("%s: configuration is valid\n", path);
		config_free(conf);
		return 0;
	}
	if (strcmp(cmd, "serve") == 0)
		return master_main(conf);		/* which owns conf */
	if (strcmp(cmd, "migrate") == 0)
		rc = migrate_run(conf) == 0 ? 0 : 1;
	else
		rc = dump_table(conf, stdout) == 0 ? 0 : 1;
	config_free(conf);
	return rc;
}
