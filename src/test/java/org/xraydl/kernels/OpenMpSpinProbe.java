package org.xraydl.kernels;

import org.nd4j.linalg.factory.Nd4j;

/** Child-JVM entry for {@link OpenMpSpinTest}: applies the spin count, then loads ND4J (and so libgomp). */
public final class OpenMpSpinProbe {
    private OpenMpSpinProbe() {
    }

    public static void main(String[] args) {
        OpenMpSpin.Setting s = OpenMpSpin.applyBeforeNd4j();
        System.out.println("setting: " + s);
        System.out.println("sum: " + Nd4j.ones(4).sumNumber());
    }
}
