package org.xraydl.explore;

import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.util.Arrays;
import java.util.Base64;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class ImagesTest {
    /** The PNG signature, and the IEND chunk every complete PNG ends with (length 0, type, CRC). */
    static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static final byte[] IEND = {0, 0, 0, 0, 'I', 'E', 'N', 'D', (byte) 0xae, 0x42, 0x60, (byte) 0x82};

    @Test
    void pngBase64IsACompletePngWhateverItsLengthModuloThree() throws Exception {
        // Several sizes, so the PNG byte counts fall on each remainder mod 3 (the kernel's truncation hits 1 and 2).
        boolean[] remainders = new boolean[3];
        for (int side = 1; side <= 12; side++) {
            BufferedImage img = new BufferedImage(side, side + 1, BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < img.getHeight(); y++) {
                for (int x = 0; x < side; x++) {
                    img.setRGB(x, y, (x * 37 + y * 91) * 0x010203 & 0xffffff);
                }
            }
            String text = Images.pngBase64(img);
            byte[] png = Base64.getDecoder().decode(text); // strict: rejects a cut-off final group
            remainders[png.length % 3] = true;
            assertEquals(0, text.length() % 4, "whole base64 groups");
            assertArrayEquals(PNG_SIGNATURE, Arrays.copyOf(png, 8));
            assertArrayEquals(IEND, Arrays.copyOfRange(png, png.length - 12, png.length), "ends with IEND");
            BufferedImage back = ImageIO.read(new ByteArrayInputStream(png));
            assertArrayEquals(img.getRGB(0, 0, side, side + 1, null, 0, side), back.getRGB(0, 0, side, side + 1, null, 0, side));
        }
        assertArrayEquals(new boolean[]{true, true, true}, remainders, "PNG sizes covered every remainder mod 3");
    }
}
