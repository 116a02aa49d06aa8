package org.xraydl.data;

import org.bytedeco.javacpp.indexer.UByteIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.bytedeco.opencv.global.opencv_core.CV_8UC3;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TestTimeAugmentationTest {

    @Test
    void firstViewIsThePlainEvaluationCropAndThereIsNoFlip() {
        Preprocessing p = new Preprocessing(List.of("NORMAL", "PNEUMONIA"), 32, 3, 1.14, "imagenet");
        List<?> views = TestTimeAugmentation.views(p);
        assertEquals(6, views.size());
        assertTrue(views.get(0) instanceof CenterCropTransform);
    }

    @Test
    void shiftedCropStartsHalfWayToTheEdge() {
        // 20 rows x 40 columns; channel 0 = column index, channel 1 = row index.
        Mat mat = new Mat(20, 40, CV_8UC3);
        try (UByteIndexer ix = mat.createIndexer()) {
            for (int r = 0; r < 20; r++) {
                for (int c = 0; c < 40; c++) {
                    ix.put(r, c, 0, c);
                    ix.put(r, c, 1, r);
                    ix.put(r, c, 2, 0);
                }
            }
        }
        // Shorter side 20 -> resizeTo 20 (no scaling); crop 16: free margins 12 (x) and 2 (y) per side.
        // fx = -0.5: x = 12 - 6 = 6; fy = +0.5: y = 2 + 1 = 3.
        Mat out = new TestTimeAugmentation.ShiftedCrop(20, 16, -0.5, 0.5, Resampling.OPENCV).transform(mat, null);
        assertEquals(16, out.rows());
        assertEquals(16, out.cols());
        try (UByteIndexer ix = out.createIndexer()) {
            assertEquals(6, ix.get(0, 0, 0));
            assertEquals(21, ix.get(0, 15, 0));
            assertEquals(3, ix.get(0, 0, 1));
            assertEquals(18, ix.get(15, 0, 1));
        }
    }
}
