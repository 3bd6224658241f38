/* ek_main.c — the firmware entry point every port shares: bring the board up, then run the application.
 *
 * ek_app_main() is the device main loop (firmware/runtime/ek_server.c: the link protocol server) or, for
 * bring-up tests, a test app (firmware/tests/port_echo.c). Its return value becomes the exit status. */
#include "ek_port.h"

int ek_app_main(void);

int main(void)
{
    ek_port_init();
    return ek_app_main();
}
