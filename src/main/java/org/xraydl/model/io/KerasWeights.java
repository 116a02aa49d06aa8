package org.xraydl.model.io;

import org.bytedeco.hdf5.Attribute;
import org.bytedeco.hdf5.DataSet;
import org.bytedeco.hdf5.DataSpace;
import org.bytedeco.hdf5.DataType;
import org.bytedeco.hdf5.Group;
import org.bytedeco.hdf5.H5File;
import org.bytedeco.hdf5.H5Object;
import org.bytedeco.hdf5.PredType;
import org.bytedeco.hdf5.StrType;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.modelimport.keras.Hdf5Archive;
import org.deeplearning4j.nn.modelimport.keras.KerasModelImport;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.UserError;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.bytedeco.hdf5.global.hdf5.H5F_ACC_RDONLY;
import static org.bytedeco.hdf5.global.hdf5.H5T_FLOAT;
import static org.bytedeco.hdf5.global.hdf5.H5T_INTEGER;
import static org.bytedeco.hdf5.global.hdf5.H5T_STRING;

/**
 * Keras 2 HDF5 files (e.g. Keras' DenseNet121 ImageNet weights), read with the HDF5 library that
 * DL4J's model import ships.
 *
 * <p>{@link #readParams} reads the weights of named layers directly, from either layout Keras
 * writes: {@code save_weights()} files such as {@code densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5}
 * (root attribute {@code layer_names}, no {@code model_config}) and {@code model.save()} files (the
 * same structure under the group {@code model_weights}). A layer named {@code conv1/conv} is the
 * nested group {@code conv1/conv}; its attribute {@code weight_names} lists dataset paths relative to
 * that group ({@code conv1/conv/kernel:0}). Tensors are converted to DL4J's layouts and names:
 * conv kernel [kh, kw, in, out] to W [out, in, kh, kw], dense kernel [in, out] to W (same layout),
 * bias to b, and batch-norm gamma, beta, moving_mean, moving_variance to gamma, beta, mean, var.
 *
 * <p>{@link #importGraph} imports a full model through {@link KerasModelImport}, for callers that
 * need the Keras architecture itself (VGG16 from a Keras file).
 */
public final class KerasWeights {
    /** The HDF5 superblock signature; it sits at offset 0, or 512, 1024, 2048, ... after a user block. */
    private static final byte[] HDF5_SIGNATURE = {(byte) 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    private static final String HINT = "expected a Keras 2 .h5 written by model.save() or save_weights() "
            + "(e.g. densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5)";

    private KerasWeights() {
    }

    /** A full Keras model (with {@code model_config}) imported as a DL4J graph. */
    public static ComputationGraph importGraph(Path h5) {
        requireHdf5(h5);
        if (!hasModelConfig(h5)) {
            throw new UserError("--weights " + h5 + " holds Keras weights only (no model_config): this model needs a full "
                    + "Keras model saved with model.save(), or a DL4J .zip; weights-only files work with the densenet models");
        }
        try {
            return KerasModelImport.importKerasModelAndWeights(h5.toString(), false);
        } catch (Exception e) {
            throw new UserError("--weights " + h5 + " cannot be imported as a Keras model (" + e.getClass().getSimpleName()
                    + ": " + firstLine(e.getMessage()) + "): " + HINT);
        }
    }

    /**
     * Reads the weights of those of {@code layers} that the file has, in DL4J layout (see the class
     * comment). A layer the file lists without weights maps to an empty map; a layer the file does
     * not list is absent from the result.
     */
    public static Map<String, Map<String, INDArray>> readParams(Path h5, Collection<String> layers) {
        requireHdf5(h5);
        synchronized (Hdf5Archive.LOCK_OBJECT) {
            org.bytedeco.hdf5.Exception.dontPrint(); // HDF5 errors become one-line UserErrors, not stderr dumps
            H5File file = null;
            Group root = null;
            try {
                file = new H5File(h5.toString(), H5F_ACC_RDONLY());
                root = weightsRoot(h5, file);
                Set<String> listed = new HashSet<>(readStrings(root, "layer_names"));
                Map<String, Map<String, INDArray>> out = new LinkedHashMap<>();
                for (String layer : layers) {
                    if (listed.contains(layer)) {
                        out.put(layer, readLayer(h5, root, layer));
                    }
                }
                return out;
            } catch (UserError e) {
                throw e;
            } catch (RuntimeException e) {
                throw new UserError("--weights " + h5 + " cannot be read as Keras weights, damaged or truncated? ("
                        + e.getClass().getSimpleName() + ": " + firstLine(e.getMessage()) + "): download it again; " + HINT);
            } finally {
                if (root != null && root != file) {
                    root.deallocate();
                }
                if (file != null) {
                    file.deallocate();
                }
            }
        }
    }

    /** The group holding {@code layer_names}: the root of a save_weights() file, model_weights of a model.save() file. */
    private static Group weightsRoot(Path h5, H5File file) {
        if (hasStringsAttribute(file, "layer_names")) {
            return file;
        }
        if (file.nameExists("model_weights")) {
            Group g = file.openGroup("model_weights");
            if (hasStringsAttribute(g, "layer_names")) {
                return g;
            }
            g.deallocate();
        }
        throw new UserError("--weights " + h5 + " is an HDF5 file but not Keras weights (no layer_names attribute at the root "
                + "or in model_weights): " + HINT);
    }

    private static Map<String, INDArray> readLayer(Path h5, Group root, String layer) {
        Group g = root.openGroup(layer);
        try {
            Map<String, INDArray> keras = new LinkedHashMap<>();
            for (String weight : readStrings(g, "weight_names")) {
                String key = kerasParamName(weight);
                if (keras.put(key, readFloats(g, weight)) != null) {
                    throw new UserError("--weights " + h5 + ": layer " + layer + " has two weights named " + key + ": " + HINT);
                }
            }
            return toDl4j(h5, layer, keras);
        } finally {
            g.deallocate();
        }
    }

    /** {@code conv1/conv/kernel:0} -> kernel; {@code bn/moving_variance_1:0} -> moving_variance (TF name suffixes). */
    static String kerasParamName(String weightName) {
        String last = weightName.substring(weightName.lastIndexOf('/') + 1);
        return last.replaceFirst(":\\d+$", "").replaceFirst("_\\d+$", "");
    }

    /** Keras tensors of one layer to DL4J parameter names and layouts. */
    static Map<String, INDArray> toDl4j(Path h5, String layer, Map<String, INDArray> keras) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        for (Map.Entry<String, INDArray> e : keras.entrySet()) {
            INDArray v = e.getValue();
            switch (e.getKey()) {
                case "kernel" -> {
                    if (v.rank() == 4) {
                        out.put("W", v.permute(3, 2, 0, 1).dup('c')); // [kh, kw, in, out] -> [out, in, kh, kw]
                    } else if (v.rank() == 2) {
                        out.put("W", v); // dense: [in, out] in both
                    } else {
                        throw new UserError("--weights " + h5 + ": layer " + layer + " has a kernel of rank " + v.rank()
                                + " (shape " + Arrays.toString(v.shape()) + "); only 2D convolutions and dense layers are supported");
                    }
                }
                case "bias" -> out.put("b", v);
                case "gamma" -> out.put("gamma", v);
                case "beta" -> out.put("beta", v);
                case "moving_mean" -> out.put("mean", v);
                case "moving_variance" -> out.put("var", v);
                default -> throw new UserError("--weights " + h5 + ": layer " + layer + " has a weight '" + e.getKey()
                        + "' this loader does not know (it reads Conv2D, Dense and BatchNormalization layers)");
            }
        }
        return out;
    }

    private static INDArray readFloats(Group g, String path) {
        DataSet ds = g.openDataSet(path);
        DataSpace space = ds.getSpace();
        try {
            int typeClass = ds.asAbstractDs().getTypeClass();
            if (typeClass != H5T_FLOAT && typeClass != H5T_INTEGER) {
                throw new IllegalStateException("dataset " + path + " is not numeric (HDF5 type class " + typeClass + ")");
            }
            int rank = space.getSimpleExtentNdims();
            long[] dims = new long[rank];
            space.getSimpleExtentDims(dims);
            long n = 1;
            for (long d : dims) {
                n *= d;
            }
            if (n > Integer.MAX_VALUE) {
                throw new IllegalStateException("dataset " + path + " is too large: " + Arrays.toString(dims));
            }
            float[] data = new float[(int) n];
            try (FloatPointer fp = new FloatPointer(n); DataType asFloat = new DataType(PredType.NATIVE_FLOAT())) {
                ds.read(fp, asFloat); // HDF5 converts float64/float16/integers to float32
                fp.get(data);
            }
            return rank == 0 ? Nd4j.scalar(data[0]) : Nd4j.create(data, dims, 'c');
        } finally {
            space.deallocate();
            ds.deallocate();
        }
    }

    private static boolean hasStringsAttribute(H5Object o, String name) {
        return o.attrExists(name) || o.attrExists(name + "0");
    }

    /**
     * A string-list attribute as Keras writes it: a fixed-length (numpy 'S') or variable-length
     * string array, possibly split over {@code name0}, {@code name1}, ... when it exceeded HDF5's
     * 64 KiB attribute limit. An empty list is stored as an empty (float) array.
     */
    static List<String> readStrings(H5Object o, String name) {
        List<String> out = new ArrayList<>();
        if (o.attrExists(name)) {
            readStringsInto(o, name, out);
        } else {
            for (int i = 0; o.attrExists(name + i); i++) {
                readStringsInto(o, name + i, out);
            }
        }
        return out;
    }

    private static void readStringsInto(H5Object o, String name, List<String> out) {
        Attribute a = o.openAttribute(name);
        DataSpace space = a.getSpace();
        try {
            long n = space.getSimpleExtentNpoints();
            if (n == 0) {
                return;
            }
            if (a.getTypeClass() != H5T_STRING) {
                throw new IllegalStateException("attribute " + name + " is not a string list");
            }
            try (StrType type = a.getStrType()) {
                if (type.isVariableStr()) {
                    try (PointerPointer<BytePointer> ptrs = new PointerPointer<>(n)) {
                        a.read(type, ptrs);
                        for (long i = 0; i < n; i++) {
                            BytePointer s = ptrs.get(BytePointer.class, i);
                            out.add(s == null ? "" : s.getString(StandardCharsets.UTF_8));
                        }
                        // the strings HDF5 allocated are a few bytes per layer, read once: not reclaimed
                    }
                } else {
                    int size = (int) type.getSize();
                    byte[] bytes = new byte[(int) (n * size)];
                    try (BytePointer buf = new BytePointer(bytes.length)) {
                        a.read(type, (Pointer) buf); // the BytePointer overload is the std::string one
                        buf.get(bytes);
                    }
                    for (int i = 0; i < n; i++) {
                        int end = i * size;
                        while (end < (i + 1) * size && bytes[end] != 0) {
                            end++;
                        }
                        out.add(new String(bytes, i * size, end - i * size, StandardCharsets.UTF_8).stripTrailing());
                    }
                }
            }
        } finally {
            space.deallocate();
            a.deallocate();
        }
    }

    private static boolean hasModelConfig(Path h5) {
        synchronized (Hdf5Archive.LOCK_OBJECT) {
            org.bytedeco.hdf5.Exception.dontPrint();
            H5File file = null;
            try {
                file = new H5File(h5.toString(), H5F_ACC_RDONLY());
                return file.attrExists("model_config");
            } catch (RuntimeException e) {
                throw new UserError("--weights " + h5 + " is a damaged HDF5 file (" + e.getClass().getSimpleName() + ": "
                        + firstLine(e.getMessage()) + "): " + HINT);
            } finally {
                if (file != null) {
                    file.deallocate();
                }
            }
        }
    }

    /** Refuses files without the HDF5 signature before the native library sees them. */
    static void requireHdf5(Path h5) {
        try (FileChannel ch = FileChannel.open(h5, StandardOpenOption.READ)) {
            ByteBuffer head = ByteBuffer.allocate(HDF5_SIGNATURE.length);
            for (long offset = 0; offset + HDF5_SIGNATURE.length <= ch.size(); offset = offset == 0 ? 512 : offset * 2) {
                head.clear();
                while (head.hasRemaining() && ch.read(head, offset + head.position()) > 0) {
                    // read the 8 bytes at offset
                }
                if (!head.hasRemaining() && Arrays.equals(head.array(), HDF5_SIGNATURE)) {
                    return;
                }
            }
        } catch (IOException e) {
            throw new UserError("cannot read --weights " + h5 + ": " + e.getMessage());
        }
        throw new UserError("--weights " + h5 + " is not an HDF5 file (no HDF5 signature): " + HINT);
    }

    private static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("");
    }
}
