using System.Text.RegularExpressions;

namespace LongLM.Runtime.Evaluation;

/// <summary>BLEU of a corpus: the score, its n-gram precisions and the brevity penalty's inputs.</summary>
/// <param name="Score">BLEU in [0, 1] (Hugging Face evaluate's "bleu" reports this scale, not 0-100).</param>
/// <param name="Precisions">Modified n-gram precision for n = 1..max order (0 where no n-gram was possible).</param>
/// <param name="BrevityPenalty">1 when the prediction is longer than the reference, else exp(1 - r/c) (0 for c = 0).</param>
/// <param name="PredictionLength">c: words in every prediction.</param>
/// <param name="ReferenceLength">r: words in every reference.</param>
public sealed record BleuScore(double Score, IReadOnlyList<double> Precisions, double BrevityPenalty, int PredictionLength, int ReferenceLength);

/// <summary>ROUGE-L of one pair: LCS over words, precision = LCS/|prediction|, recall = LCS/|reference|.</summary>
/// <param name="Precision">LCS / prediction words (0 when either side has no words).</param>
/// <param name="Recall">LCS / reference words (0 when either side has no words).</param>
/// <param name="F">F-measure with beta = 1: 2PR / (P + R), 0 when P + R = 0.</param>
public sealed record RougeScore(double Precision, double Recall, double F);

/// <summary>
/// The two generation-quality metrics of LM-Infinite's Table 3 (LMI:data/generation_metrics.py), as Hugging Face
/// <c>evaluate</c> computes them on decoded text:
/// <list type="bullet">
/// <item>"bleu": the TensorFlow NMT <c>compute_bleu</c> over the whole corpus (clipped n-gram counts summed over every
/// pair before dividing), max order 4, no smoothing (a zero precision makes BLEU 0), geometric mean of the four
/// precisions times the brevity penalty; words from the sacreBLEU 13a tokenizer (<see cref="Tokenize13a"/>).</item>
/// <item>"rouge", key rougeL: Google's <c>rouge_score</c> LCS F-measure with beta = 1 on lower-cased alphanumeric words
/// (<see cref="RougeTokenize"/>), no stemmer; with several pairs evaluate reports the bootstrap median of the mean,
/// which <see cref="RougeLCorpus"/> takes as the mean itself.</item>
/// </list>
/// </summary>
public static class GenerationMetrics
{
    /// <summary>BLEU's maximum n-gram order (BLEU-4).</summary>
    public const int MaxOrder = 4;

    private static readonly Regex s_punctuation = new(@"([\{-\~\[-\` -\&\(-\+\:-\@\/])", RegexOptions.CultureInvariant);
    private static readonly Regex s_periodCommaAfter = new(@"([^0-9])([\.,])", RegexOptions.CultureInvariant);
    private static readonly Regex s_periodCommaBefore = new(@"([\.,])([^0-9])", RegexOptions.CultureInvariant);
    private static readonly Regex s_dashAfterDigit = new(@"([0-9])(-)", RegexOptions.CultureInvariant);
    private static readonly Regex s_nonAlphanumeric = new("[^a-z0-9]+", RegexOptions.CultureInvariant);

    /// <summary>
    /// sacreBLEU's "13a" tokenizer (the mteval-v13a.pl rules, as evaluate's metrics/bleu/tokenizer_13a.py): drop
    /// "&lt;skipped&gt;", join "-\n" hyphenations, newlines to spaces, unescape four HTML entities, then space out
    /// ASCII punctuation, periods and commas not between digits, and a dash after a digit; split on white space.
    /// </summary>
    public static string[] Tokenize13a(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string line = text.Replace("<skipped>", "", StringComparison.Ordinal).Replace("-\n", "", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
        if (line.Contains('&', StringComparison.Ordinal))
            line = line.Replace("&quot;", "\"", StringComparison.Ordinal).Replace("&amp;", "&", StringComparison.Ordinal)
                .Replace("&lt;", "<", StringComparison.Ordinal).Replace("&gt;", ">", StringComparison.Ordinal);
        line = " " + line + " ";
        line = s_punctuation.Replace(line, " $1 ");
        line = s_periodCommaAfter.Replace(line, "$1 $2 ");
        line = s_periodCommaBefore.Replace(line, " $1 $2");
        line = s_dashAfterDigit.Replace(line, "$1 $2 ");
        return SplitWhite(line);
    }

    /// <summary>rouge_score's tokenizer: lower-case, every run of characters outside [a-z0-9] becomes a space, split.</summary>
    public static string[] RougeTokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return SplitWhite(s_nonAlphanumeric.Replace(text.ToLowerInvariant(), " "));
    }

    private static string[] SplitWhite(string text) => text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Corpus BLEU-4 of decoded predictions against one reference each (evaluate's "bleu" defaults).</summary>
    public static BleuScore Bleu(IReadOnlyList<string> predictions, IReadOnlyList<string> references) =>
        BleuOfWords(predictions.Select(Tokenize13a).ToArray(), references.Select(Tokenize13a).ToArray());

    /// <summary>
    /// Corpus BLEU of already split words, one reference per prediction: for each order n the clipped matches
    /// (min of the prediction's and the reference's count of each n-gram) and the prediction's n-gram count are summed
    /// over the corpus; p_n = matches / possible (0 when nothing was possible); BLEU = BP * exp(mean ln p_n), 0 when
    /// any p_n is 0; BP = 1 when c &gt; r, exp(1 - r/c) when 0 &lt; c &lt;= r, 0 when c = 0.
    /// </summary>
    public static BleuScore BleuOfWords(IReadOnlyList<IReadOnlyList<string>> predictions, IReadOnlyList<IReadOnlyList<string>> references, int maxOrder = MaxOrder)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        ArgumentNullException.ThrowIfNull(references);
        if (predictions.Count != references.Count)
            throw new LongLMException($"BLEU needs one reference per prediction, got {predictions.Count} predictions and {references.Count} references");
        if (maxOrder < 1) throw new LongLMException($"BLEU's order must be at least 1, got {maxOrder}");
        var matches = new long[maxOrder];
        var possible = new long[maxOrder];
        int c = 0, r = 0;
        for (int i = 0; i < predictions.Count; i++)
        {
            var prediction = predictions[i];
            var reference = references[i];
            c += prediction.Count;
            r += reference.Count;
            for (int n = 1; n <= maxOrder; n++)
            {
                var referenceCounts = NGramCounts(reference, n);
                foreach (var (gram, count) in NGramCounts(prediction, n))
                    matches[n - 1] += Math.Min(count, referenceCounts.GetValueOrDefault(gram));
                possible[n - 1] += Math.Max(0, prediction.Count - n + 1);
            }
        }
        var precisions = new double[maxOrder];
        for (int n = 0; n < maxOrder; n++) precisions[n] = possible[n] > 0 ? (double)matches[n] / possible[n] : 0;
        double geometricMean = precisions.Min() > 0 ? Math.Exp(precisions.Sum(Math.Log) / maxOrder) : 0;
        double brevity = c > r ? 1 : c == 0 ? 0 : Math.Exp(1 - (double)r / c);
        return new BleuScore(geometricMean * brevity, precisions, brevity, c, r);
    }

    private static Dictionary<string, int> NGramCounts(IReadOnlyList<string> words, int n)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i + n <= words.Count; i++)
        {
            // U+0001 cannot occur inside a word (words are split on white space and come from decoded text), so the
            // joined key is unique to its n-gram.
            string key = string.Join('\u0001', Enumerable.Range(i, n).Select(k => words[k]));
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        return counts;
    }

    /// <summary>ROUGE-L of one decoded prediction against its reference (rouge_score's rougeL, no stemmer).</summary>
    public static RougeScore RougeL(string prediction, string reference) => RougeLOfWords(RougeTokenize(prediction), RougeTokenize(reference));

    /// <summary>
    /// ROUGE-L of split words: LCS by the usual dynamic programme; P = LCS / |prediction|, R = LCS / |reference|,
    /// F = 2PR / (P + R) (beta = 1); all 0 when either side is empty.
    /// </summary>
    public static RougeScore RougeLOfWords(IReadOnlyList<string> prediction, IReadOnlyList<string> reference)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        ArgumentNullException.ThrowIfNull(reference);
        if (prediction.Count == 0 || reference.Count == 0) return new RougeScore(0, 0, 0);
        int lcs = LongestCommonSubsequence(prediction, reference);
        double p = (double)lcs / prediction.Count, rec = (double)lcs / reference.Count;
        return new RougeScore(p, rec, p + rec > 0 ? 2 * p * rec / (p + rec) : 0);
    }

    /// <summary>Mean ROUGE-L over pairs (evaluate's aggregate is a bootstrap estimate of this mean).</summary>
    public static RougeScore RougeLCorpus(IReadOnlyList<string> predictions, IReadOnlyList<string> references)
    {
        if (predictions.Count != references.Count || predictions.Count == 0)
            throw new LongLMException($"ROUGE-L needs as many references as predictions (at least one), got {predictions.Count} and {references.Count}");
        var scores = predictions.Select((p, i) => RougeL(p, references[i])).ToList();
        return new RougeScore(scores.Average(s => s.Precision), scores.Average(s => s.Recall), scores.Average(s => s.F));
    }

    /// <summary>Length of the longest common subsequence (one row of the table at a time).</summary>
    public static int LongestCommonSubsequence(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        var previous = new int[b.Count + 1];
        var current = new int[b.Count + 1];
        for (int i = 1; i <= a.Count; i++)
        {
            for (int j = 1; j <= b.Count; j++)
                current[j] = string.Equals(a[i - 1], b[j - 1], StringComparison.Ordinal) ? previous[j - 1] + 1 : Math.Max(previous[j], current[j - 1]);
            (previous, current) = (current, previous);
        }
        return previous[b.Count];
    }
}
