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

    private static INDArray channelVector(float[] v, INDArray like) {
        return Nd4j.create(v, new long[]{1, v.length, 1, 1}).castTo(like.dataType());
    }
}
