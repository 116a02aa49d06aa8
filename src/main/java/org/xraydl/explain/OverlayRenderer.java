package org.xraydl.explain;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.xraydl.data.CenterCropTransform;
import org.xraydl.data.Preprocessing;
import org.xraydl.model.io.ModelBundle;

import java.awt.image.BufferedImage;
import java.nio.file.Path;

/**
 * Grad-CAM overlays of one model's decisions, drawn on the original image at its own size (the map
 * covers the centre crop the model saw). {@link HeatmapWriter} writes them to files; the prediction
 * server sends them in its answer.
 */
public final class OverlayRenderer {
    private final GradCam cam;
    private final CenterCropTransform crop;

    /** Grad-CAM at {@code camLayer}, or at the default layer when null. */
    public OverlayRenderer(ModelBundle bundle, String camLayer) {
        Preprocessing pre = bundle.preprocessing();
        this.cam = new GradCam(bundle.network(), camLayer);
        this.crop = CenterCropTransform.of(pre);
    }

    /** The overlay of {@code classIndex} (-1: the predicted class) on {@code image}, whose model input is {@code input}. */
    public BufferedImage render(Path image, INDArray input, int classIndex) {
        return Overlay.render(image, cam.compute(input, classIndex), crop::sourceWindow);
    }
}
