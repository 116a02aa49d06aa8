package org.xraydl.data;

import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Size;

import java.util.Arrays;
import java.util.List;

/**
 * The image filter of every resize in the data path (config key {@code resampling}, stored in {@link Preprocessing}).
 * {@link #OPENCV}: OpenCV with the interpolation each caller has always used (INTER_LINEAR for the training crop,
 * INTER_AREA for the evaluation resize). {@link #ANTIALIAS}: PIL's antialiased bilinear ({@link AntialiasedResize})
 * in both, as torchvision on PIL images resizes.
 */
public enum Resampling {
    OPENCV("opencv"),
    ANTIALIAS("antialias");

    /** The values the config key accepts, in the order error messages list them. */
    public static final List<String> NAMES = Arrays.stream(values()).map(Resampling::key).toList();

    private final String key;

    Resampling(String key) {
        this.key = key;
    }

    /** The config / JSON value. */
    public String key() {
        return key;
    }

    /** The value of config key {@code key}; IllegalArgumentException for anything but {@link #NAMES}. */
    public static Resampling of(String key) {
        for (Resampling r : values()) {
            if (r.key.equals(key)) {
                return r;
            }
        }
        throw new IllegalArgumentException("resampling must be " + String.join(" or ", NAMES) + ", got " + key);
    }

    /**
     * {@code src} resized to {@code width x height}: with OpenCV's {@code opencvInterpolation} ({@link #OPENCV}),
     * or PIL's antialiased bilinear ({@link #ANTIALIAS}, which ignores it).
     */
    public Mat resize(Mat src, int width, int height, int opencvInterpolation) {
        if (this == ANTIALIAS) {
            return AntialiasedResize.resize(src, width, height);
        }
        Mat out = new Mat();
        org.bytedeco.opencv.global.opencv_imgproc.resize(src, out, new Size(width, height), 0, 0, opencvInterpolation);
        return out;
    }
}
