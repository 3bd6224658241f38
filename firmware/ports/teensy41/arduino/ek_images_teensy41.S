/* ek_images_teensy41.S — link image part 0 into the Teensy's flash (PROGMEM, section .progmem), so the one
 * HEX file teensy_loader programs carries the model. Built only when platformio.ini (here) defines EK_IMAGE0_FILE
 * as the quoted path of the .ekm file. Sections are 64-byte aligned, so the image start is too. */
#if defined(EK_IMAGE0_FILE)
    .section .progmem.ek_image0, "a"
    .balign 64
    .global ek_image0_start
    .global ek_image0_end
ek_image0_start:
    .incbin EK_IMAGE0_FILE
ek_image0_end:
#endif
