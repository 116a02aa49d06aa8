package org.xraydl.run;

/** One row of history.csv. */
public record EpochRecord(int epoch, double trainLoss, double valLoss, double valAccuracy, double valAuc,
                          double valSensitivity, double valSpecificity, double seconds, double imagesPerSecond) {

    public static final String HEADER =
            "epoch,train_loss,val_loss,val_accuracy,val_auc,val_sensitivity,val_specificity,seconds,img_per_s";

    public String csv() {
        return String.format(java.util.Locale.ROOT, "%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.2f,%.2f", epoch, trainLoss, valLoss,
                valAccuracy, valAuc, valSensitivity, valSpecificity, seconds, imagesPerSecond);
    }

    public static EpochRecord parse(String line) {
        String[] f = line.split(",");
        return new EpochRecord(Integer.parseInt(f[0]), d(f[1]), d(f[2]), d(f[3]), d(f[4]), d(f[5]), d(f[6]), d(f[7]), d(f[8]));
    }

    private static double d(String s) {
        return Double.parseDouble(s);
    }
}
