package org.xraydl.data;

import org.bytedeco.javacv.OpenCVFrameConverter;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Rect;
import org.bytedeco.opencv.opencv_core.Size;
import org.datavec.image.data.ImageWritable;
import org.datavec.image.transform.BaseImageTransform;

import java.util.Random;

import static org.bytedeco.opencv.global.opencv_imgproc.INTER_AREA;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;

/**
 * The evaluation path of the paper (torchvision Resize(255) + CenterCrop(224)): shorter side
 * resized to {@code resizeTo}, then the central {@code size x size} square. Deterministic.
 */
public class CenterCropTransform extends BaseImageTransform<Mat> {
    private final int resizeTo;
    private final int size;

    public CenterCropTransform(int resizeTo, int size) {
        super(null);
        this.resizeTo = resizeTo;
        this.size = size;
        this.converter = new OpenCVFrameConverter.ToMat();
    }

    @Override
    protected ImageWritable doTransform(ImageWritable image, Random random) {
        if (image == null) {
            return null;
        }
        Mat mat = converter.convert(image.getFrame());
        int h = mat.rows();
        int w = mat.cols();
        double scale = resizeTo / (double) Math.min(h, w);
        int nh = Math.max(size, (int) Math.round(h * scale));
        int nw = Math.max(size, (int) Math.round(w * scale));
        Mat resized = new Mat();
        resize(mat, resized, new Size(nw, nh), 0, 0, INTER_AREA);
        Mat out = resized.apply(new Rect((nw - size) / 2, (nh - size) / 2, size, size)).clone();
        return new ImageWritable(converter.convert(out));
    }
}
