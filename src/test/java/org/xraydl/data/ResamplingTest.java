package org.xraydl.data;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Rect;
import org.bytedeco.opencv.opencv_core.Size;
import org.datavec.image.transform.ImageTransform;
import org.junit.jupiter.api.Test;
import org.xraydl.config.ConfigLoader;

import java.util.List;
import java.util.Map;

import static org.bytedeco.opencv.global.opencv_imgproc.INTER_AREA;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_LINEAR;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.xraydl.data.AntialiasedResizeTest.levels;
import static org.xraydl.data.AntialiasedResizeTest.random;

/** The {@code resampling} switch: opencv is exactly the former OpenCV calls, antialias reaches every resize, and the zip's record. */
class ResamplingTest {
    private static final List<String> LABELS = List.of("NORMAL", "PNEUMONIA");

    private static int[] opencv(Mat src, Rect crop, int w, int h, int interpolation) {
        Mat out = new Mat();
        resize(crop == null ? src : src.apply(crop), out, new Size(w, h), 0, 0, interpolation);
        return levels(out);
    }

    @Test
    void opencvIsTheFormerInterLinearCropAndInterAreaEvaluationBitForBit() {
        Mat src = random(20, 30, 3, 11); // 20 rows, 30 columns
        // Without a Random the crop falls back to the central 20x20 square (torchvision's fallback), then INTER_LINEAR.
        Mat crop = new RandomResizedCropTransform(null, 12, 0.6, Resampling.OPENCV).transform(src, null);
        assertArrayEquals(opencv(src, new Rect(5, 0, 20, 20), 12, 12, INTER_LINEAR), levels(crop));
        // Evaluation: shorter side 20 -> 16 (30 -> 24) with INTER_AREA, then the central 14x14 at (5, 1).
        Mat eval = new CenterCropTransform(16, 14, Resampling.OPENCV).transform(src, null);
        Mat area = new Mat();
        resize(src, area, new Size(24, 16), 0, 0, INTER_AREA);
        assertArrayEquals(levels(area.apply(new Rect(5, 1, 14, 14))), levels(eval));
        // A TTA view shifted half-way left: x = 5 + Math.round(-0.5 * 5) = 5 - 2 = 3.
        Mat left = new TestTimeAugmentation.ShiftedCrop(16, 14, -0.5, 0, Resampling.OPENCV).transform(src, null);
        assertArrayEquals(levels(area.apply(new Rect(3, 1, 14, 14))), levels(left));
    }

    @Test
    void antialiasReachesTheTrainingCropTheEvaluationResizeAndEveryTtaView() {
        Mat src = random(20, 30, 3, 12);
        Mat crop = new RandomResizedCropTransform(null, 12, 0.6, Resampling.ANTIALIAS).transform(src, null);
        assertArrayEquals(levels(AntialiasedResize.resize(src.apply(new Rect(5, 0, 20, 20)), 12, 12)), levels(crop));
        assertFalse(java.util.Arrays.equals(opencv(src, new Rect(5, 0, 20, 20), 12, 12, INTER_LINEAR), levels(crop)));

        // imageSize 14, resizeRatio 16/14: resizeTo 16, as above.
        Preprocessing p = new Preprocessing(LABELS, 14, 3, 16 / 14.0, "imagenet", "antialias");
        Mat resized = AntialiasedResize.resize(src, 24, 16);
        assertArrayEquals(levels(resized.apply(new Rect(5, 1, 14, 14))), levels(CenterCropTransform.of(p).transform(src, null)));
        List<ImageTransform> views = TestTimeAugmentation.views(p);
        assertArrayEquals(levels(resized.apply(new Rect(5, 1, 14, 14))), levels(((MatTransform) views.get(0)).transform(src, null)));
        assertArrayEquals(levels(resized.apply(new Rect(3, 1, 14, 14))), levels(((MatTransform) views.get(1)).transform(src, null)));
        // The zoomed view: resizeTo round(16 * 1.1) = 18, 30 -> 27; centred 14x14 at (6, 2).
        assertArrayEquals(levels(AntialiasedResize.resize(src, 27, 18).apply(new Rect(6, 2, 14, 14))),
                levels(((MatTransform) views.get(5)).transform(src, null)));
    }

    @Test
    void theZipRecordReadsOpencvWithoutTheFieldAndKeepsAntialias() throws Exception {
        Preprocessing aa = Preprocessing.of(ConfigLoader.load(null, Map.of("resampling", "antialias")), LABELS);
        assertEquals("antialias", aa.resampling());
        assertEquals(Resampling.ANTIALIAS, aa.filter());
        String json = ConfigLoader.JSON.writeValueAsString(aa);
        assertEquals(aa, ConfigLoader.JSON.readValue(json, Preprocessing.class));

        // A preprocessing.json written before the field existed.
        ObjectNode old = ConfigLoader.JSON.valueToTree(aa);
        old.remove("resampling");
        Preprocessing read = ConfigLoader.JSON.readValue(old.toString(), Preprocessing.class);
        assertEquals("opencv", read.resampling());
        assertEquals(Resampling.OPENCV, read.filter());
        assertEquals(new Preprocessing(LABELS, aa.imageSize(), 3, aa.resizeRatio(), aa.normalization()), read);

        old.put("resampling", "lanczos");
        assertThrows(Exception.class, () -> ConfigLoader.JSON.readValue(old.toString(), Preprocessing.class));
        assertEquals("opencv", Preprocessing.of(ConfigLoader.load(null, Map.of()), LABELS).resampling());
    }
}
