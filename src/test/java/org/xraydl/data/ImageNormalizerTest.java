package org.xraydl.data;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ImageNormalizerTest {

    @Test
    void imagenetScalesThenStandardisesEachBgrChannel() {
        INDArray x = Nd4j.valueArrayOf(new long[]{2, 3, 4, 4}, 255.0, DataType.FLOAT);
        new ImageNormalizer("imagenet").normalize(x);
        // DataVec gives BGR: channel 0 is blue (mean 0.406, std 0.225), channel 2 red (0.485, 0.229).
        assertEquals((1 - 0.406) / 0.225, x.getDouble(1, 0, 3, 3), 1e-5);
        assertEquals((1 - 0.456) / 0.224, x.getDouble(0, 1, 0, 0), 1e-5);
        assertEquals((1 - 0.485) / 0.229, x.getDouble(1, 2, 2, 1), 1e-5);
    }

    @Test
    void vggSubtractsTheBgrMeansOnTheRawScale() {
        INDArray x = Nd4j.valueArrayOf(new long[]{1, 3, 2, 2}, 100.0, DataType.FLOAT);
        new ImageNormalizer("vgg").normalize(x);
        assertEquals(100 - 103.939, x.getDouble(0, 0, 1, 1), 1e-4);
        assertEquals(100 - 123.68, x.getDouble(0, 2, 0, 0), 1e-4);
    }

    @Test
    void levelTablesHoldTheBitsNormalizeGivesEveryEightBitLevel() {
        for (String mode : new String[]{"imagenet", "vgg"}) {
            ImageNormalizer n = new ImageNormalizer(mode);
            // Every level 0..255 in each of the 3 channels, normalised by ND4J's ops on the batch.
            float[] levels = new float[3 * 256];
            for (int i = 0; i < levels.length; i++) {
                levels[i] = i % 256;
            }
            INDArray x = Nd4j.create(levels, new long[]{1, 3, 16, 16}, DataType.FLOAT);
            assertEquals(255f, x.getFloat(0, 2, 15, 15));
            n.normalize(x);
            float[][] t = n.levelTables();
            assertEquals(3, t.length);
            for (int c = 0; c < 3; c++) {
                assertEquals(256, t[c].length);
                for (int level = 0; level < 256; level++) {
                    float expected = x.getFloat(0, c, level / 16, level % 16);
                    assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(t[c][level]),
                            mode + ", channel " + c + ", level " + level + ": " + expected + " vs " + t[c][level]);
                }
            }
        }
        // Independently of ND4J: the red channel's top level in imagenet mode, and the blue one's zero in vgg mode.
        assertEquals((1 - 0.485) / 0.229, new ImageNormalizer("imagenet").levelTables()[2][255], 1e-5);
        assertEquals(-103.939, new ImageNormalizer("vgg").levelTables()[0][0], 1e-4);
    }

    @Test
    void unknownModeIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new ImageNormalizer("zscore"));
    }
}
