package org.xraydl.data;

import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Rect;
import org.bytedeco.opencv.opencv_core.Size;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.bytedeco.opencv.global.opencv_core.CV_8U;
import static org.bytedeco.opencv.global.opencv_core.CV_MAKETYPE;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_LINEAR;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link AntialiasedResize} against values worked out by hand from PIL's definition (scale = in/out, filterscale =
 * max(scale, 1), support = filterscale, centre of output i = (i + 0.5) * scale, weight of input j =
 * max(0, 1 - |(j - centre + 0.5) / filterscale|) over j in [(int) (centre - support + 0.5), (int) (centre + support + 0.5))
 * clipped to the image, normalised), and its invariants. The bit-exact match with Pillow itself on real images is
 * checked offline ({@code tools/antialias_compare.py}).
 */
class AntialiasedResizeTest {

    static Mat mat(int rows, int cols, int channels, int... levels) {
        Mat m = new Mat(rows, cols, CV_MAKETYPE(CV_8U, channels));
        byte[] b = new byte[levels.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) levels[i];
        }
        assertEquals(rows * cols * channels, b.length);
        m.data().put(b, 0, b.length);
        return m;
    }

    static Mat random(int rows, int cols, int channels, long seed) {
        Random r = new Random(seed);
        int[] levels = new int[rows * cols * channels];
        for (int i = 0; i < levels.length; i++) {
            levels[i] = r.nextInt(256);
        }
        return mat(rows, cols, channels, levels);
    }

    /** The levels of a Mat, row by row (cloned first, so an ROI reads right too). */
    static int[] levels(Mat m) {
        Mat c = m.isContinuous() ? m : m.clone();
        byte[] b = new byte[c.rows() * c.cols() * c.channels()];
        c.data().get(b, 0, b.length);
        int[] out = new int[b.length];
        for (int i = 0; i < b.length; i++) {
            out[i] = b[i] & 0xff;
        }
        return out;
    }

    @Test
    void fourPixelsToTwo() {
        // scale 2, filterscale 2, support 2.
        // out 0: centre 1.0, taps (int)(-0.5)=0 .. (int)3.5=3 exclusive -> j = 0, 1, 2 at (j - 0.5) / 2 = -0.25, 0.25, 0.75
        //        -> weights 0.75, 0.75, 0.25 (sum 1.75) = 3/7, 3/7, 1/7: (3*10 + 3*20 + 40) / 7 = 130/7 = 18.57 -> 19
        // out 1: centre 3.0, taps 1 .. min(4, 5) -> j = 1, 2, 3 at -0.75, -0.25, 0.25 -> 0.25, 0.75, 0.75 = 1/7, 3/7, 3/7:
        //        (20 + 3*40 + 3*80) / 7 = 380/7 = 54.29 -> 54
        Mat out = AntialiasedResize.resize(mat(1, 4, 1, 10, 20, 40, 80), 2, 1);
        assertEquals(1, out.rows());
        assertEquals(2, out.cols());
        assertArrayEquals(new int[]{19, 54}, levels(out));
    }

    @Test
    void sixPixelsToThreeVertically() {
        // A column, so the vertical pass does the work (the horizontal one is skipped: the width does not change).
        // scale 2, support 2.
        // out 0: centre 1 -> j = 0, 1, 2 -> 3/7, 3/7, 1/7: (0 + 120 + 80) / 7 = 28.57 -> 29
        // out 1: centre 3 -> j = (int)1.5=1 .. (int)5.5=5 exclusive = 1..4 at (j - 2.5) / 2 = -0.75, -0.25, 0.25, 0.75
        //        -> 0.25, 0.75, 0.75, 0.25 (sum 2) = 1/8, 3/8, 3/8, 1/8: (40 + 240 + 360 + 160) / 8 = 100
        // out 2: centre 5 -> j = 3 .. min(6, 7) = 3, 4, 5 at -0.75, -0.25, 0.25 -> 1/7, 3/7, 3/7: (120 + 480 + 600) / 7 = 171.43 -> 171
        Mat out = AntialiasedResize.resize(mat(6, 1, 1, 0, 40, 80, 120, 160, 200), 1, 3);
        assertEquals(3, out.rows());
        assertArrayEquals(new int[]{29, 100, 171}, levels(out));
    }

    @Test
    void upscalingIsPlainBilinearWithHalfPixelCentres() {
        // 2 -> 4: scale 0.5, filterscale 1 (no widening), support 1. Centres 0.25, 0.75, 1.25, 1.75:
        // out 0: taps 0 .. (int)1.75=1 exclusive -> j = 0 only -> a (the edge is held, as with half-pixel bilinear)
        // out 1: j = 0, 1 at -0.25, 0.75 -> 0.75, 0.25: 0.25 * 200 = 50
        // out 2: j = 0, 1 at -0.75, 0.25 -> 0.25, 0.75: 150
        // out 3: j = (int)1.25=1 .. 2 -> b
        assertArrayEquals(new int[]{0, 50, 150, 200}, levels(AntialiasedResize.resize(mat(1, 2, 1, 0, 200), 4, 1)));
        // That is OpenCV's INTER_LINEAR when enlarging, up to their fixed-point rounding.
        Mat src = random(5, 7, 1, 3);
        Mat cv = new Mat();
        resize(src, cv, new Size(13, 11), 0, 0, INTER_LINEAR);
        int[] a = levels(AntialiasedResize.resize(src, 13, 11));
        int[] b = levels(cv);
        for (int i = 0; i < a.length; i++) {
            assertTrue(Math.abs(a[i] - b[i]) <= 1, "pixel " + i + ": " + a[i] + " vs OpenCV " + b[i]);
        }
    }

    @Test
    void theSameSizeGivesTheSamePixelsAndAConstantStaysConstant() {
        Mat src = random(9, 11, 3, 1);
        Mat same = AntialiasedResize.resize(src, 11, 9);
        assertArrayEquals(levels(src), levels(same));
        assertEquals(src.type(), same.type());
        int[] flat = new int[37 * 23];
        java.util.Arrays.fill(flat, 173);
        Mat constant = mat(37, 23, 1, flat);
        for (int[] size : new int[][]{{11, 9}, {50, 40}, {23, 5}, {1, 1}}) {
            for (int v : levels(AntialiasedResize.resize(constant, size[0], size[1]))) {
                assertEquals(173, v, size[0] + "x" + size[1]);
            }
        }
    }

    @Test
    void eachChannelIsResizedOnItsOwn() {
        int rows = 13;
        int cols = 17;
        Mat colour = random(rows, cols, 3, 2);
        int[] all = levels(colour);
        int[] out = levels(AntialiasedResize.resize(colour, 6, 8));
        for (int c = 0; c < 3; c++) {
            int[] plane = new int[rows * cols];
            for (int i = 0; i < plane.length; i++) {
                plane[i] = all[i * 3 + c];
            }
            int[] alone = levels(AntialiasedResize.resize(mat(rows, cols, 1, plane), 6, 8));
            for (int i = 0; i < alone.length; i++) {
                assertEquals(alone[i], out[i * 3 + c], "channel " + c + ", pixel " + i);
            }
        }
    }

    @Test
    void aCropReadsLikeItsClone() {
        Mat big = random(30, 40, 3, 4);
        Mat roi = big.apply(new Rect(5, 3, 17, 21));
        assertFalse(roi.isContinuous(), "the test needs a strided ROI");
        Mat viaRoi = AntialiasedResize.resize(roi, 9, 8);
        Mat viaClone = AntialiasedResize.resize(roi.clone(), 9, 8);
        assertArrayEquals(levels(viaClone), levels(viaRoi));
        assertEquals(8, viaRoi.rows());
        assertEquals(9, viaRoi.cols());
    }

    @Test
    void weightsSumToOneAndStayWithinTheSupport() {
        for (int[] io : new int[][]{{224, 109}, {190, 96}, {96, 190}, {7, 7}, {5, 1}}) {
            AntialiasedResize.Coefficients k = AntialiasedResize.Coefficients.of(io[0], io[1]);
            for (int i = 0; i < io[1]; i++) {
                double sum = 0;
                int fixed = 0;
                for (int t = 0; t < k.count()[i]; t++) {
                    sum += k.exact()[i * k.size() + t];
                    fixed += k.weights()[i * k.size() + t];
                }
                assertEquals(1.0, sum, 1e-12);
                assertTrue(Math.abs(fixed - (1 << 22)) <= k.count()[i], "fixed-point weights of output " + i);
                assertTrue(k.first()[i] >= 0 && k.first()[i] + k.count()[i] <= io[0]);
            }
        }
    }
}
