package org.xraydl.model;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.transferlearning.TransferLearning;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.impl.LossMCXENT;

import java.util.ArrayList;
import java.util.List;

/** Builds the classifier head layers, named head_fc1.., head_output. */
public final class Heads {
    public static final String OUTPUT = "head_output";
    public static final String PREFIX = "head_";

    private Heads() {
    }

    /** The head layers in order: name and layer config. Dropout on a layer applies to its input. */
    static List<Object[]> layers(int nIn, HeadSpec head) {
        List<Object[]> out = new ArrayList<>();
        int in = nIn;
        double pendingDrop = 0;
        for (int i = 0; i < head.hidden().size(); i++) {
            DenseLayer.Builder b = new DenseLayer.Builder().nIn(in).nOut(head.hidden().get(i)).activation(Activation.RELU);
            if (pendingDrop > 0) {
                b.dropOut(1.0 - pendingDrop); // DL4J takes the retain probability
            }
            out.add(new Object[]{PREFIX + "fc" + (i + 1), b.build()});
            in = head.hidden().get(i);
            pendingDrop = head.dropout().get(i);
        }
        LossMCXENT loss = head.classWeights() == null ? new LossMCXENT()
                : new LossMCXENT(Nd4j.create(head.classWeights()).reshape(1, head.classWeights().length));
        OutputLayer.Builder ob = new OutputLayer.Builder(loss).nIn(in).nOut(head.numClasses()).activation(Activation.SOFTMAX);
        if (pendingDrop > 0) {
            ob.dropOut(1.0 - pendingDrop);
        }
        out.add(new Object[]{OUTPUT, ob.build()});
        return out;
    }

    public static void addTo(ComputationGraphConfiguration.GraphBuilder g, String from, int nIn, HeadSpec head) {
        String prev = from;
        for (Object[] l : layers(nIn, head)) {
            g.addLayer((String) l[0], (Layer) l[1], prev);
            prev = (String) l[0];
        }
        g.setOutputs(OUTPUT);
    }

    public static void addTo(TransferLearning.GraphBuilder g, String from, int nIn, HeadSpec head) {
        String prev = from;
        for (Object[] l : layers(nIn, head)) {
            g.addLayer((String) l[0], (Layer) l[1], prev);
            prev = (String) l[0];
        }
        g.setOutputs(OUTPUT);
    }
}
