package org.xraydl.diagnose;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * torchvision's DenseNet names ({@code features.denseblock1.denselayer2.norm1.weight}, {@code classifier.bias}, ...)
 * against the project's {@link org.xraydl.model.DenseNetBuilder} vertex names (Keras style: {@code conv2_block2_0_bn})
 * and DL4J parameter keys ({@code gamma}, {@code beta}, {@code mean}, {@code var} / {@code log10stdev}, {@code W},
 * {@code b}). torchvision's dense block b is the project's stage b+1, its transition b the project's {@code pool(b+1)}.
 */
public final class TorchNames {
    private static final Pattern DENSE = Pattern.compile("denseblock(\\d+)\\.denselayer(\\d+)\\.(norm1|relu1|conv1|norm2|relu2|conv2)");
    private static final Pattern TRANSITION = Pattern.compile("transition(\\d+)\\.(norm|relu|conv|pool)");

    private TorchNames() {
    }

    /** A module of torchvision's {@code features} ({@code denseblock1.denselayer1.norm1}) as the project's vertex name. */
    public static Optional<String> vertex(String module) {
        switch (module) {
            case "conv0": return Optional.of("conv1/conv");
            case "norm0": return Optional.of("conv1/bn");
            case "relu0": return Optional.of("conv1/relu");
            case "pool0": return Optional.of("pool1");
            case "norm5": return Optional.of("bn");
            default: break;
        }
        Matcher m = DENSE.matcher(module);
        if (m.matches()) {
            String p = "conv" + (Integer.parseInt(m.group(1)) + 1) + "_block" + m.group(2);
            return Optional.of(p + switch (m.group(3)) {
                case "norm1" -> "_0_bn";
                case "relu1" -> "_0_relu";
                case "conv1" -> "_1_conv";
                case "norm2" -> "_1_bn";
                case "relu2" -> "_1_relu";
                default -> "_2_conv";
            });
        }
        m = TRANSITION.matcher(module);
        if (m.matches()) {
            return Optional.of("pool" + (Integer.parseInt(m.group(1)) + 1) + "_" + (m.group(2).equals("norm") ? "bn" : m.group(2)));
        }
        return Optional.empty();
    }

    /**
     * The torchvision module whose output is this module's only input (and which feeds nothing else), or empty where the
     * input is the network input or a concatenation (no module of its own): then the input gradient cannot be compared.
     */
    public static Optional<String> inputModule(String module) {
        int dot = module.lastIndexOf('.');
        String prefix = dot < 0 ? "" : module.substring(0, dot + 1);
        String last = module.substring(dot + 1);
        String in = switch (last) {
            case "norm0" -> "conv0";
            case "relu0" -> "norm0";
            case "pool0" -> "relu0";
            case "relu1" -> "norm1";
            case "conv1" -> "relu1";
            case "norm2" -> "conv1";
            case "relu2" -> "norm2";
            case "conv2" -> "relu2";
            case "relu" -> "norm";
            case "conv" -> "relu";
            case "pool" -> "conv";
            default -> null;
        };
        return Optional.ofNullable(in).map(i -> prefix + i);
    }

    /** The project's vertex and DL4J parameter of a torchvision parameter or buffer; for {@code running_var}: "var". */
    public static Optional<String[]> parameter(String torchName) {
        if (torchName.equals("classifier.weight")) {
            return Optional.of(new String[]{"head_output", "W"});
        }
        if (torchName.equals("classifier.bias")) {
            return Optional.of(new String[]{"head_output", "b"});
        }
        if (!torchName.startsWith("features.")) {
            return Optional.empty();
        }
        String rest = torchName.substring("features.".length());
        int dot = rest.lastIndexOf('.');
        Optional<String> v = vertex(rest.substring(0, dot));
        String p = switch (rest.substring(dot + 1)) {
            case "weight" -> v.map(x -> x.endsWith("conv") ? "W" : "gamma").orElse(null);
            case "bias" -> "beta";
            case "running_mean" -> "mean";
            case "running_var" -> "var";
            default -> null;
        };
        return p == null ? Optional.empty() : v.map(x -> new String[]{x, p});
    }
}
