package org.xraydl.kernels;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.ActivationLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationReLU;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.scalar.RectifiedLinear;
import org.nd4j.linalg.api.ops.impl.scalar.Step;
import org.nd4j.linalg.factory.Nd4j;

/**
 * DL4J's {@link ActivationLayer} for a plain ReLU, with fewer and faster passes over the data. The
 * layer configuration is untouched (it is still DL4J's ActivationLayer with {@code Activation.RELU},
 * so saved models are the same); only the runtime object that executes it differs.
 * <ul>
 *   <li>Forward (training): DL4J copies the input, then applies ReLU in place; here ReLU writes
 *       straight into the output array (one pass instead of two).</li>
 *   <li>Backprop: DL4J copies the input, runs libnd4j's {@code relu_bp}, whose per-element
 *       {@code std::function} call makes it 5-10x slower than a vectorised op (7 % of a
 *       DenseNet-121 training step), then copies the result into the gradient workspace. Here
 *       {@code step(x) = x > 0 ? 1 : 0} goes into the gradient array and is multiplied by the incoming
 *       gradient in place: two vectorised passes. Same values: dL/dx = dL/dy where x > 0, else 0.
 *       Where oneDNN's bindings load ({@link DirectEltwise}, {@code -Dxraydl.directEltwise=false} to switch it off),
 *       one pass instead: oneDNN's ReLU {@code eltwise_backward} from x, the same bits except for a NaN x, whose
 *       dL/dy it passes on (step(NaN)*dy = 0*dy; a NaN activation makes the loss and so dL/dy NaN anyway).</li>
 * </ul>
 * Any other activation, a ReLU with max/threshold/slope, or non-float data runs DL4J's code.
 * <p>Where this layer's only input is a batch norm that has applied the ReLU in its training forward
 * ({@link FastBatchNormalizationLayer#fuseRelu}, {@code -Dxraydl.fuseBnRelu=false} switches it off), the training forward
 * hands that array on ({@code leverageTo}, no pass); backprop is the one above (relu(y) &gt; 0 exactly where y &gt; 0).
 */
public final class FastReluLayer extends ActivationLayer {
    /** oneDNN's ReLU backward, null where switched off or unavailable (then step and multiply). */
    private DirectEltwise direct;
    /** The batch norm that is this layer's only input and may apply this ReLU itself ({@link FastBatchNormalizationLayer#fuseRelu}). */
    private FastBatchNormalizationLayer fusedFrom;
    /** Training forwards that handed their input on because the batch norm had applied the ReLU, process-wide. */
    private static final java.util.concurrent.atomic.AtomicLong PASSED_ON = new java.util.concurrent.atomic.AtomicLong();

    public FastReluLayer(NeuralNetConfiguration conf, DataType dataType) {
        super(conf, dataType);
        direct = DirectEltwise.createIfAvailable();
    }

    /** Whether backprop goes to oneDNN's ReLU backward primitive ({@link DirectEltwise}) where it applies. */
    boolean usesDirectEltwise() {
        return direct != null;
    }

    /** Tests: the primitives this layer uses (null: ND4J's ops only). */
    void useDirectEltwise(DirectEltwise d) {
        direct = d;
    }

    /** Links this layer to the batch norm that is its only input (see {@link FastBatchNormalizationLayer#fuseRelu}); null unlinks. */
    void fuseFrom(FastBatchNormalizationLayer bn) {
        this.fusedFrom = bn;
    }

    boolean fusedIntoBatchNorm() {
        return fusedFrom != null;
    }

    /** How many training forwards handed their input on (the ReLU already applied by the batch norm), process-wide. */
    static long passedOn() {
        return PASSED_ON.get();
    }

    /** Whether this activation is a plain ReLU (no cap, threshold or negative slope), the case handled here. */
    static boolean isPlainRelu(IActivation fn) {
        return fn instanceof ActivationReLU r && zeroOrNull(r.getMax()) && zeroOrNull(r.getThreshold())
                && zeroOrNull(r.getNegativeSlope());
    }

    private static boolean zeroOrNull(Double d) {
        return d == null || d == 0.0;
    }

    private boolean handles(INDArray x) {
        return x.dataType() == DataType.FLOAT && isPlainRelu(layerConf().getActivationFn());
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr mgr) {
        assertInputSet(false);
        if (!training || !handles(input)) {
            return super.activate(training, mgr);
        }
        if (fusedFrom != null && input == fusedFrom.reluAppliedOutput()) {
            // the batch norm's last training forward wrote relu(y) into this very array (the same object: that pass):
            // ReLU again would give the same bits. In the array's place, as DL4J's activate(false) hands its input on:
            // the same array where it already lives in this layer's ACTIVATIONS workspace (fit's training forward keeps
            // all activations in one), else a copy there. Backprop is unchanged: relu(y) > 0 exactly where y > 0.
            PASSED_ON.incrementAndGet();
            return mgr.leverageTo(ArrayType.ACTIVATIONS, input);
        }
        INDArray out = mgr.createUninitialized(ArrayType.ACTIVATIONS, input.dataType(), input.shape(), input.ordering());
        Nd4j.exec(new RectifiedLinear(input, out, 0.0));
        return out;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        if (!handles(input) || input.ordering() != epsilon.ordering()
                || !java.util.Arrays.equals(input.shape(), epsilon.shape())) {
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        INDArray delta = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, input.dataType(), input.shape(), input.ordering());
        if (direct == null || !direct.reluBackward(input, epsilon, delta)) {
            Nd4j.exec(new Step(input, delta, 0.0));
            delta.muli(epsilon);
        }
        return new Pair<>(new DefaultGradient(), delta);
    }
}
