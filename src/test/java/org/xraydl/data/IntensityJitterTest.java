package org.xraydl.data;

import org.bytedeco.javacv.OpenCVFrameConverter;
import org.bytedeco.opencv.opencv_core.Mat;
import org.datavec.image.data.ImageWritable;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.xraydl.data.AntialiasedResizeTest.levels;
import static org.xraydl.data.AntialiasedResizeTest.mat;

/** Brightness and contrast with explicit factors against hand-computed levels, and the factors' draws. */
class IntensityJitterTest {

    @Test
    void brightnessMultipliesRoundsHalfToEvenAndSaturates() {
        Mat img = mat(4, 4, 1,
                0, 1, 3, 5,
                7, 10, 40, 100,
                150, 170, 171, 200,
                254, 255, 60, 20);
        // x 1.5: 1.5 -> 2, 4.5 -> 4, 7.5 -> 8, 10.5 -> 10 (ties to even); 170 -> 255; 171 -> 256.5, 200 -> 300, ... -> 255.
        assertArrayEquals(new int[]{
                0, 2, 4, 8,
                10, 15, 60, 150,
                225, 255, 255, 255,
                255, 255, 90, 30}, levels(IntensityJitter.apply(img, 1.5, 1)));
        // x 0.5: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 3.5 -> 4, 85.5 -> 86, 127.5 -> 128.
        assertArrayEquals(new int[]{
                0, 0, 2, 2,
                4, 5, 20, 50,
                75, 85, 86, 100,
                127, 128, 30, 10}, levels(IntensityJitter.apply(img, 0.5, 1)));
        assertArrayEquals(levels(img), levels(IntensityJitter.apply(img, 1, 1)), "factor 1 is the image itself");
    }

    @Test
    void contrastScalesAroundTheImagesMeanAndSaturatesAtBothEnds() {
        // mean 100: 0, 20, ..., 200 average 100, and 75 + 125 + 3 x 100 too.
        Mat img = mat(4, 4, 1,
                0, 20, 40, 60,
                80, 100, 120, 140,
                160, 180, 200, 75,
                125, 100, 100, 100);
        // factor 2: 100 + 2 (p - 100) = 2p - 100, clamped to 0..255.
        assertArrayEquals(new int[]{
                0, 0, 0, 20,
                60, 100, 140, 180,
                220, 255, 255, 50,
                150, 100, 100, 100}, levels(IntensityJitter.apply(img, 1, 2)));
        // factor 0.5: 50 + p / 2; 87.5 -> 88 and 112.5 -> 112 (ties to even).
        assertArrayEquals(new int[]{
                50, 60, 70, 80,
                90, 100, 110, 120,
                130, 140, 150, 88,
                112, 100, 100, 100}, levels(IntensityJitter.apply(img, 1, 0.5)));
    }

    @Test
    void theContrastMeanIsNotRounded() {
        // 15 x 100 + 101 = 1601: mean 100.0625. Factor 0.5 at 101: 50.5 + 50.03125 = 100.53125 -> 101
        // (a mean rounded to 100, as PIL's, would give 100.5 -> 100).
        int[] levels = new int[16];
        Arrays.fill(levels, 100);
        levels[0] = 101;
        int[] out = levels(IntensityJitter.apply(mat(4, 4, 1, levels), 1, 0.5));
        assertEquals(101, out[0]);
        assertEquals(100, out[1], "50 + 50.03125 -> 100");
    }

    @Test
    void brightnessComesFirstAndContrastUsesTheMeanOfTheBrightenedSaturatedImage() {
        // 8 x 50 and 8 x 150; brightness 2: 100 and 300 -> 255; their mean 177.5;
        // contrast 0.5: 0.5 * 100 + 88.75 = 138.75 -> 139, 0.5 * 255 + 88.75 = 216.25 -> 216.
        int[] levels = new int[16];
        Arrays.fill(levels, 0, 8, 50);
        Arrays.fill(levels, 8, 16, 150);
        int[] expected = new int[16];
        Arrays.fill(expected, 0, 8, 139);
        Arrays.fill(expected, 8, 16, 216);
        assertArrayEquals(expected, levels(IntensityJitter.apply(mat(4, 4, 1, levels), 2, 0.5)));
    }

    @Test
    void threeChannelsShareOneMeanOverAllTheirValues() {
        // Two pixels (0, 30, 60) and (90, 120, 150): mean of all six values 75; contrast 2: 2p - 75, clamped.
        assertArrayEquals(new int[]{0, 0, 45, 105, 165, 225},
                levels(IntensityJitter.apply(mat(1, 2, 3, 0, 30, 60, 90, 120, 150), 1, 2)));
        // A grey image as three equal channels gives the grey image's levels in each.
        int[] grey = {0, 20, 40, 60, 80, 100, 120, 140, 160, 180, 200, 75, 125, 100, 100, 100};
        int[] bgr = new int[grey.length * 3];
        for (int i = 0; i < bgr.length; i++) {
            bgr[i] = grey[i / 3];
        }
        int[] one = levels(IntensityJitter.apply(mat(4, 4, 1, grey), 1.3, 0.7));
        int[] three = levels(IntensityJitter.apply(mat(4, 4, 3, bgr), 1.3, 0.7));
        for (int i = 0; i < three.length; i++) {
            assertEquals(one[i / 3], three[i], "value " + i);
        }
    }

    @Test
    void factorsOverManyImagesStayInTheirRangesAndVary() {
        double b = 0.3;
        double c = 0.6;
        double[] fb = new double[2000];
        double[] fc = new double[fb.length];
        for (int k = 0; k < fb.length; k++) {
            Random r = ImageRandom.forImage(42, k);
            fb[k] = IntensityJitter.factor(r, b);
            fc[k] = IntensityJitter.factor(r, c);
            assertTrue(fb[k] >= 0.7 && fb[k] <= 1.3, "brightness factor " + fb[k]);
            assertTrue(fc[k] >= 0.4 && fc[k] <= 1.6, "contrast factor " + fc[k]);
            // the uniform draw: one nextDouble each, in order
            Random replay = ImageRandom.forImage(42, k);
            assertEquals(0.7 + 0.6 * replay.nextDouble(), fb[k], 1e-12);
            assertEquals(0.4 + 1.2 * replay.nextDouble(), fc[k], 1e-12);
        }
        // spread over the whole range (2000 uniform draws come within 1 % of each end)
        assertTrue(Arrays.stream(fb).min().orElseThrow() < 0.706 && Arrays.stream(fb).max().orElseThrow() > 1.294);
        assertTrue(Arrays.stream(fc).min().orElseThrow() < 0.412 && Arrays.stream(fc).max().orElseThrow() > 1.588);
    }

    @Test
    void theTransformDrawsPerImageAndMapsAFlatHalfAndHalfImageWithinTheRanges() {
        // Left half 50, right half 150 (mean 100): brightness f gives 50f and 150f (mean 100f), then contrast g gives
        // 100f -/+ 50fg, so f = (lo + hi) / 200 and g = (hi - lo) / (100 f), up to rounding (about 0.01 and 0.05).
        int[] levels = new int[8 * 8];
        for (int i = 0; i < levels.length; i++) {
            levels[i] = i % 8 < 4 ? 50 : 150;
        }
        Mat img = mat(8, 8, 1, levels);
        OpenCVFrameConverter.ToMat converter = new OpenCVFrameConverter.ToMat();
        double minF = 9;
        double maxF = 0;
        double minG = 9;
        double maxG = 0;
        for (int k = 0; k < 300; k++) {
            IntensityJitter jitter = new IntensityJitter(ImageRandom.forImage(7, k), 0.2, 0.4);
            ImageWritable out = jitter.transform(new ImageWritable(converter.convert(img)));
            int[] v = levels(new OpenCVFrameConverter.ToMat().convert(out.getFrame()));
            int lo = v[0];
            int hi = v[7];
            double f = (lo + hi) / 200.0;
            double g = (hi - lo) / (100 * f);
            assertTrue(f > 0.8 - 0.01 && f < 1.2 + 0.01, "brightness " + f + " (image " + k + ")");
            assertTrue(g > 0.6 - 0.06 && g < 1.4 + 0.06, "contrast " + g + " (image " + k + ")");
            minF = Math.min(minF, f);
            maxF = Math.max(maxF, f);
            minG = Math.min(minG, g);
            maxG = Math.max(maxG, g);
        }
        assertTrue(minF < 0.85 && maxF > 1.15, "brightness spread " + minF + ".." + maxF);
        assertTrue(minG < 0.7 && maxG > 1.3, "contrast spread " + minG + ".." + maxG);
    }
}
