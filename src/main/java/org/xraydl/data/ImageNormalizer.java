package org.xraydl.data;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Pixel normalisation for [mb, 3, H, W] batches in DataVec's BGR channel order.
 * {@code imagenet}: x/255, then (x - mean) / std with the ImageNet statistics (torchvision);
 * {@code vgg}: 0..255 minus the ImageNet BGR means (the Caffe/Keras VGG16 weights expect this).
 */
public class ImageNormalizer implements DataSetPreProcessor {
    private static final float[] IMAGENET_MEAN_BGR = {0.406f, 0.456f, 0.485f};
    private static final float[] IMAGENET_STD_BGR = {0.225f, 0.224f, 0.229f};
    private static final float[] VGG_MEAN_BGR = {103.939f, 116.779f, 123.68f};

    private final String mode;

    public ImageNormalizer(String mode) {
        if (!mode.equals("imagenet") && !mode.equals("vgg")) {
            throw new IllegalArgumentException("normalization must be imagenet or vgg: " + mode);
        }
        this.mode = mode;
    }

    public String mode() {
        return mode;
    }

    @Override
    public void preProcess(DataSet ds) {
        normalize(ds.getFeatures());
    }

    /** Normalises in place and returns the same array. */
    public INDArray normalize(INDArray features) {
        if (mode.equals("imagenet")) {
            features.divi(255.0);
            features.subi(channelVector(IMAGENET_MEAN_BGR, features));
            features.divi(channelVector(IMAGENET_STD_BGR, features));
        } else {
            features.subi(channelVector(VGG_MEAN_BGR, features));
        }
        return features;
    }

    /**
     * The normalised value of every 8-bit level, per BGR channel ({@code [3][256]}): each entry is made by the
     * same float operations, in the same order, as {@link #normalize} makes it from the level (x/255, minus the
     * mean, over the std; or minus the VGG mean), so looking a level up gives the bits {@link #normalize} gives.
     * The image loader writes 8-bit images through these tables ({@link FastImageLoader}), which keeps
     * normalisation, and the ND4J ops (and their OpenMP threads) it would start, off the loader thread.
     */
    public float[][] levelTables() {
        float[][] t = new float[IMAGENET_MEAN_BGR.length][256];
        for (int c = 0; c < t.length; c++) {
            for (int level = 0; level < 256; level++) {
                t[c][level] = normalize(level, c);
            }
        }
        return t;
    }

    /** {@link #normalize} for one value of channel {@code c}: Java's float arithmetic is IEEE, as ND4J's ops are. */
    float normalize(float x, int c) {
        if (mode.equals("imagenet")) {
            return (x / 255f - IMAGENET_MEAN_BGR[c]) / IMAGENET_STD_BGR[c];
        }
        return x - VGG_MEAN_BGR[c];
    }

    /** The number of channels this normaliser is made for (its tables' count). */
    public int channels() {
        return IMAGENET_MEAN_BGR.length;
    }

    private static INDArray channelVector(float[] v, INDArray like) {
        return Nd4j.create(v, new long[]{1, v.length, 1, 1}).castTo(like.dataType());
    }
}
