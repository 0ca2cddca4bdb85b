namespace Engine.Cli;

/// <summary>Accuracy, and precision, recall and F1 of the positive class (label 1, spam), of predicted labels.</summary>
readonly record struct BinaryMetrics(double Accuracy, double Precision, double Recall, double F1)
{
    public static BinaryMetrics Of(IReadOnlyList<int> labels, IReadOnlyList<int> predicted)
    {
        int tp = 0, fp = 0, fn = 0, correct = 0;
        for (int i = 0; i < labels.Count; i++)
        {
            int y = labels[i], p = predicted[i];
            if (p == y) correct++;
            if (p == 1 && y == 1) tp++;
            else if (p == 1) fp++;
            else if (y == 1) fn++;
        }
        double precision = tp + fp == 0 ? 0 : (double)tp / (tp + fp), recall = tp + fn == 0 ? 0 : (double)tp / (tp + fn);
        double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
        return new(labels.Count == 0 ? 0 : (double)correct / labels.Count, precision, recall, f1);
    }

    public override string ToString() =>
        $"accuracy {100 * Accuracy:F1}%, spam precision {100 * Precision:F1}%, recall {100 * Recall:F1}%, F1 {F1:F3}";
}
