/* ek_app_server_entry.h — the application entry the framework ports (Arduino setup/loop) call:
 * ek_app_main() from ek_app_server.c (the link-protocol server) or a test app. */
#ifndef EK_APP_SERVER_ENTRY_H
#define EK_APP_SERVER_ENTRY_H

int ek_app_main(void);

#endif
