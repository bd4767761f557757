/* quire secret: keys in the 0600 secrets file, set from standard input without echo. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "common.h"
#include "quire/error.h"
#include "quire/secret.h"

static const char usage[] =
	"usage: quire secret set NAME     read NAME's value from standard input and store it\n"
	"       quire secret list [--json]  the names the secrets file holds (never values)\n"
	"       quire secret path         the secrets file's path\n\n"
	"Keys (OPENAI_API_KEY, REPLICATE_API_TOKEN, or a role's 'secret') live in the\n"
	"environment or in the secrets file: $QUIRE_SECRETS_FILE, else\n"
	"$XDG_CONFIG_HOME/quire/secrets, else ~/.config/quire/secrets, readable by you alone\n"
	"(0600; quire refuses a file others may read). 'set' reads one line (on a terminal it\n"
	"asks, without echo), replaces any earlier value of NAME and keeps the other lines. A\n"
	"key is never printed, logged or passed to a provider that did not ask for it.\n";

static struct termios saved;

/* Ctrl-C at the prompt: the terminal gets its echo back before quire goes. */
static void restore_and_die(int sig)
{
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Reads one line of at most cap - 2 bytes from stdin into buf, without echo on a terminal;
 * 0, -1 at end of input, -2 for a longer line. The line break is dropped. */
static int read_value(const char *name, char *buf, size_t cap)
{
	struct termios quiet;
	int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	if (tty) {
		fprintf(stderr, "%s: ", name);
		fflush(stderr);
		signal(SIGINT, restore_and_die);
		signal(SIGTERM, restore_and_die);
		signal(SIGHUP, restore_and_die);
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	char *line = fgets(buf, (int)cap, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		fputc('\n', stderr);
	}
	if (!line)
		return -1;
	size_t len = strlen(buf);
	/* A full buffer without a line break is a value cut short: never stored so. */
	if (len == cap - 1 && buf[len - 1] != '\n' && !feof(stdin))
		return -2;
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

static int cmd_secret(int argc, char **argv, const struct cmd_env *env)
{
	(void)env;
	if (argc < 2)
		return usage_error("secret", "give set NAME, list or path");
	const char *sub = argv[1];
	if (!strcmp(sub, "path") && argc == 2) {
		char *p = quire_secret_file();
		printf("%s\n", p);
		free(p);
		return 0;
	}
	int json = argc == 3 && !strcmp(argv[2], "--json");
	if (!strcmp(sub, "list") && (argc == 2 || json)) {
		char **names;
		size_t n;
		int err = quire_secret_names(&names, &n);
		if (err)
			return die_core(err);
		json_t *a = json_array();
		for (size_t k = 0; k < n; k++) {
			if (json)
				json_array_append_new(a, json_string(names[k]));
			else
				printf("%s\n", names[k]);
			free(names[k]);
		}
		free(names);
		if (json)
			print_json_line(a);
		json_decref(a);
		return 0;
	}
	if (!strcmp(sub, "set") && argc == 3) {
		char value[8192];
		int r = read_value(argv[2], value, sizeof(value));
		if (r == -2)
			memset(value, 0, sizeof(value));
		if (r)
			return usage_error("secret",
					   r == -2 ? "the value of %s is longer than 8 KiB"
						   : "no value on standard input for %s",
					   argv[2]);
		int err = quire_secret_store(argv[2], value);
		memset(value, 0, sizeof(value));
		if (err)
			return die_core(err);
		char *p = quire_secret_file();
		printf("secret: %s stored in %s\n", argv[2], p);
		free(p);
		return 0;
	}
	return usage_error("secret", "give set NAME, list or path");
}

const struct cmd cmd_secret_desc = {
	.name = "secret",
	.summary = "store an API key in the private secrets file",
	.usage = usage,
	.flags = 0,
	.exec = cmd_secret,
};
