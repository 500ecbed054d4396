using System.Globalization;
using LongLM.Runtime.Evaluation;

namespace LongLM.Cli.Commands;

/// <summary>Passkey accuracy as a heatmap: one band of rows (lengths) per attention run, depths across, drawn with ScottPlot.</summary>
public static class PasskeyPlot
{
    /// <summary>Writes a PNG.</summary>
    public static void Write(string path, IReadOnlyList<(string Name, IReadOnlyList<PasskeyCell> Cells)> runs,
        IReadOnlyList<int> lengths, IReadOnlyList<double> depths, string title)
    {
        int rows = runs.Count * lengths.Count, cols = depths.Count;
        var values = new double[rows, cols];
        var rowLabels = new string[rows];
        for (int r = 0; r < runs.Count; r++)
            for (int l = 0; l < lengths.Count; l++)
            {
                int row = r * lengths.Count + l;
                rowLabels[row] = $"{runs[r].Name} | {lengths[l]}";
                for (int d = 0; d < cols; d++)
                    values[row, d] = runs[r].Cells.Single(c => c.Length == lengths[l] && c.Depth == depths[d]).Accuracy;
            }

        var plot = new ScottPlot.Plot();
        var heatmap = plot.Add.Heatmap(values);
        // Row 0 (the first run's first length) at the top; cell (row, col) spans [col, col + 1] x [rows - row - 1, rows - row].
        heatmap.Extent = new ScottPlot.CoordinateRect(0, cols, 0, rows);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.ManualRange = new ScottPlot.Range(0, 1);
        var bar = plot.Add.ColorBar(heatmap);
        bar.Label = "accuracy";
        for (int row = 0; row < rows; row++)
            for (int d = 0; d < cols; d++)
            {
                var text = plot.Add.Text(values[row, d].ToString("F2", CultureInfo.InvariantCulture), d + 0.5, rows - row - 0.5);
                text.Alignment = ScottPlot.Alignment.MiddleCenter;
                text.LabelFontColor = values[row, d] > 0.6 ? ScottPlot.Colors.Black : ScottPlot.Colors.White;
                text.LabelFontSize = 12;
            }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, cols).Select(d => d + 0.5).ToArray(), depths.Select(d => d.ToString(CultureInfo.InvariantCulture)).ToArray());
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, rows).Select(row => rows - row - 0.5).ToArray(), rowLabels);
        plot.Axes.SetLimits(0, cols, 0, rows);
        plot.Title($"Passkey retrieval accuracy: {title}");
        plot.XLabel("depth of the passkey line (0 = start, 1 = end)");
        plot.YLabel("attention | length (tokens)");
        plot.SavePng(path, 1000, Math.Max(360, 120 + 34 * rows));
    }
}
