package org.xraydl.data;

import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Rect;
import org.datavec.image.transform.ImageTransform;

import java.util.List;
import java.util.Random;

import static org.bytedeco.opencv.global.opencv_imgproc.INTER_AREA;

/**
 * The deterministic views averaged by {@code --tta}: the plain evaluation view (resize + centre
 * crop, exactly {@link CenterCropTransform}), four crops shifted half-way to the left, right, top
 * and bottom edge of the resized image, and a centre crop after a 10% larger resize (a slight zoom).
 * No horizontal flip: chest X-rays are not left-right symmetric (heart on the left, and the
 * anatomy the model learnt is lateralised), so a mirrored image is not a plausible input; small
 * shifts and scale changes are, as patient positioning varies that much.
 */
public final class TestTimeAugmentation {
    /** The zoomed view's resize factor. */
    static final double ZOOM = 1.1;

    private TestTimeAugmentation() {
    }

    /** The views; the first one is the plain evaluation transform. */
    public static List<ImageTransform> views(Preprocessing p) {
        int r = p.resizeTo();
        int s = p.imageSize();
        Resampling f = p.filter();
        return List.of(
                CenterCropTransform.of(p),
                new ShiftedCrop(r, s, -0.5, 0, f), new ShiftedCrop(r, s, 0.5, 0, f),
                new ShiftedCrop(r, s, 0, -0.5, f), new ShiftedCrop(r, s, 0, 0.5, f),
                new ShiftedCrop((int) Math.round(r * ZOOM), s, 0, 0, f));
    }

    /**
     * Shorter side resized to {@code resizeTo} with {@code resampling} (OpenCV: INTER_AREA, as {@link CenterCropTransform}), then a {@code size x size} crop whose centre is moved by
     * {@code fx}, {@code fy} times the free margin on each side (-1 = at the left/top edge, 0 = centred).
     */
    static final class ShiftedCrop extends MatTransform {
        private final int resizeTo;
        private final int size;
        private final double fx;
        private final double fy;
        private final Resampling resampling;

        ShiftedCrop(int resizeTo, int size, double fx, double fy, Resampling resampling) {
            super(null);
            this.resizeTo = resizeTo;
            this.size = size;
            this.fx = fx;
            this.fy = fy;
            this.resampling = resampling;
        }

        @Override
        ShiftedCrop copy() {
            return new ShiftedCrop(resizeTo, size, fx, fy, resampling);
        }

        @Override
        protected Mat transform(Mat mat, Random random) {
            double scale = resizeTo / (double) Math.min(mat.rows(), mat.cols());
            int nh = Math.max(size, (int) Math.round(mat.rows() * scale));
            int nw = Math.max(size, (int) Math.round(mat.cols() * scale));
            Mat resized = resampling.resize(mat, nw, nh, INTER_AREA);
            int x = offset(nw, fx);
            int y = offset(nh, fy);
            return resized.apply(new Rect(x, y, size, size)).clone();
        }

        private int offset(int length, double f) {
            int margin = (length - size) / 2;
            return Math.max(0, Math.min(length - size, margin + (int) Math.round(f * margin)));
        }
    }
}
