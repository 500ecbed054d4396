using System.Text.Json;
using LongLM.Runtime;
using LongLM.Runtime.Evaluation;

namespace LongLM.Tests.Evaluation;

/// <summary>
/// BLEU-4 and ROUGE-L of continue-eval. Expected values: hand arithmetic written beside each case, and
/// golden/bleu_rouge_ref.json from tools/reference/bleu_ref.py (Debian python3-nltk corpus_bleu for BLEU, an
/// independent Python LCS for ROUGE-L).
/// </summary>
public class GenerationMetricsTests
{
    private static string[] W(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void Bleu_ShortPrediction_ByHand()
    {
        // pred "the cat sat on the mat" (c = 6), ref "the cat sat on the red mat today" (r = 8).
        // 1-grams: the x2, cat, sat, on, mat all in ref (the x2 there too): 6/6.
        // 2-grams: the cat, cat sat, sat on, on the match; "the mat" does not: 4/5.
        // 3-grams: the cat sat, cat sat on, sat on the match; "on the mat" does not: 3/4.
        // 4-grams: the cat sat on, cat sat on the match; "sat on the mat" does not: 2/3.
        // geometric mean = (1 * 0.8 * 0.75 * 2/3)^(1/4) = 0.4^0.25 = 0.7952707287670506
        // BP = exp(1 - 8/6) = exp(-1/3) = 0.7165313105737893; BLEU = 0.5698363775444271
        var s = GenerationMetrics.BleuOfWords([W("the cat sat on the mat")], [W("the cat sat on the red mat today")]);
        Assert.Equal([1.0, 0.8, 0.75, 2.0 / 3], s.Precisions.ToArray(), (a, b) => Math.Abs(a - b) < 1e-15);
        Assert.Equal(Math.Exp(-1.0 / 3), s.BrevityPenalty, 15);
        Assert.Equal(Math.Pow(0.4, 0.25) * Math.Exp(-1.0 / 3), s.Score, 14);
        Assert.Equal(0.5698363775444271, s.Score, 12);
    }

    [Fact]
    public void Bleu_RepeatedWordsAreClipped_AndAZeroPrecisionGivesZero()
    {
        // pred "the the the the the the the" (7 words) vs ref "the cat is on the mat": "the" occurs twice in the
        // reference, so 1-gram matches are clipped to 2: p1 = 2/7. No 2-gram "the the" in the reference: p2 = 0/6,
        // so BLEU = 0 with no smoothing (evaluate's bleu; NLTK prints a warning and a value near 1e-231).
        var s = GenerationMetrics.BleuOfWords([W("the the the the the the the")], [W("the cat is on the mat")]);
        Assert.Equal(2.0 / 7, s.Precisions[0], 15);
        Assert.Equal(0, s.Precisions[1]);
        Assert.Equal(0, s.Score);
        Assert.Equal(1, s.BrevityPenalty); // c = 7 > r = 6
    }

    [Fact]
    public void Bleu_Corpus_SumsCountsBeforeDividing()
    {
        // pair 1: pred "a b c d" = ref: 4/4, 3/3, 2/2, 1/1. pair 2: pred "a b x y", ref "a b z w":
        // 1-grams a, b match (2/4), 2-grams "a b" (1/3), 3-grams 0/2, 4-grams 0/1.
        // corpus: p1 = 6/8, p2 = 4/6, p3 = 2/4, p4 = 1/2; c = r = 8, BP = exp(0) = 1.
        // BLEU = (0.75 * 2/3 * 0.5 * 0.5)^(1/4) = 0.125^0.25 = 0.5946035575013605.
        // (Averaging the two sentence scores instead would give (1 + 0) / 2 = 0.5.)
        var s = GenerationMetrics.BleuOfWords([W("a b c d"), W("a b x y")], [W("a b c d"), W("a b z w")]);
        Assert.Equal(Math.Pow(0.125, 0.25), s.Score, 14);
        Assert.Equal(8, s.PredictionLength);
        Assert.Equal(8, s.ReferenceLength);
    }

    [Fact]
    public void Bleu_EmptyPrediction_IsZero_AndMismatchedCountsAreRefused()
    {
        Assert.Equal(0, GenerationMetrics.BleuOfWords([Array.Empty<string>()], [W("a b")]).Score);
        Assert.Throws<LongLMException>(() => GenerationMetrics.Bleu(["a"], ["a", "b"]));
    }

    [Fact]
    public void Tokenize13a_ByHand()
    {
        // " Hello, world. It's 3.14 and 1,000 - 5-3 ok. ": period/comma after a non-digit get spaced
        // ("Hello , ", "world . ", "ok . "), between digits they stay ("3.14", "1,000"); a dash after a digit is spaced
        // ("5 - 3"); the apostrophe is outside the 13a punctuation class, so "It's" stays whole.
        Assert.Equal(["Hello", ",", "world", ".", "It's", "3.14", "and", "1,000", "-", "5", "-", "3", "ok", "."],
            GenerationMetrics.Tokenize13a("Hello, world. It's 3.14 and 1,000 - 5-3 ok."));
        // '"' and '!' are in the class; "-\n" joins a hyphenated word; "&amp;" is unescaped first, then spaced out.
        Assert.Equal(["\"", "Hi", "!", "\"", "she", "said", "goodbye", "&", "left"],
            GenerationMetrics.Tokenize13a("\"Hi!\" she said good-\nbye &amp; left"));
    }

    [Fact]
    public void Bleu_OnText_UsesThe13aWords()
    {
        // "Tom ran." -> [Tom, ran, .] against "Tom ran home." -> [Tom, ran, home, .]: p1 = 3/3, p2 = 1/2
        // ("Tom ran"; "ran ." is not in the reference), p3 = 0/1 -> BLEU 0 with BP exp(1 - 4/3) < 1.
        var s = GenerationMetrics.Bleu(["Tom ran."], ["Tom ran home."]);
        Assert.Equal(3, s.PredictionLength);
        Assert.Equal(4, s.ReferenceLength);
        Assert.Equal(0.5, s.Precisions[1], 15);
        Assert.Equal(0, s.Score);
    }

    [Fact]
    public void RougeL_ByHand()
    {
        // LCS("the cat sat on the mat", "the cat sat on the red mat today") = 6 (every prediction word, in order):
        // P = 6/6 = 1, R = 6/8 = 0.75, F = 2 * 1 * 0.75 / 1.75 = 0.8571428571428571.
        var s = GenerationMetrics.RougeL("the cat sat on the mat", "the cat sat on the red mat today");
        Assert.Equal(1, s.Precision, 15);
        Assert.Equal(0.75, s.Recall, 15);
        Assert.Equal(6.0 / 7, s.F, 15);
        // "a b c d" vs "b a d c": LCS = 2 ("a c", "a d", "b c" or "b d"), P = R = F = 0.5.
        Assert.Equal(0.5, GenerationMetrics.RougeL("a b c d", "b a d c").F, 15);
        // rouge_score words: lower-cased, non-alphanumerics are separators: "Lily's Dog, RAN!" -> lily s dog ran.
        Assert.Equal(["lily", "s", "dog", "ran"], GenerationMetrics.RougeTokenize("Lily's Dog, RAN!"));
        // P = 3/3 (lily, dog, ran in order), R = 3/4 -> F = 6/7 again.
        Assert.Equal(6.0 / 7, GenerationMetrics.RougeL("LILY dog... ran", "Lily's Dog, RAN!").F, 15);
        Assert.Equal(0, GenerationMetrics.RougeL("...", "a b").F);
    }

    [Fact]
    public void Golden_MatchesNltkBleu_AndThePythonLcs()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", "bleu_rouge_ref.json")));
        int checkedCases = 0;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            string name = c.GetProperty("name").GetString()!;
            var predictions = c.GetProperty("predictions").EnumerateArray().Select(e => e.GetString()!).ToArray();
            var references = c.GetProperty("references").EnumerateArray().Select(e => e.GetString()!).ToArray();
            // The script splits on spaces; so does this test, so the golden checks the BLEU arithmetic itself.
            var bleu = GenerationMetrics.BleuOfWords(predictions.Select(W).ToArray(), references.Select(W).ToArray());
            double nltk = c.GetProperty("bleu").GetDouble();
            if (c.GetProperty("zero_precision").GetBoolean())
            {
                // NLTK stands a zero precision in with sys.float_info.min; evaluate and LongLM give 0.
                Assert.True(nltk < 1e-70, name);
                Assert.Equal(0, bleu.Score);
            }
            else
            {
                Assert.True(Math.Abs(nltk - bleu.Score) < 1e-12, $"{name}: nltk {nltk}, LongLM {bleu.Score}");
            }
            var rouge = c.GetProperty("rouge_l").EnumerateArray().ToArray();
            for (int i = 0; i < predictions.Length; i++)
            {
                var s = GenerationMetrics.RougeL(predictions[i], references[i]);
                Assert.True(Math.Abs(rouge[i].GetProperty("f").GetDouble() - s.F) < 1e-12, $"{name}[{i}] F");
                Assert.True(Math.Abs(rouge[i].GetProperty("p").GetDouble() - s.Precision) < 1e-12, $"{name}[{i}] P");
                Assert.True(Math.Abs(rouge[i].GetProperty("r").GetDouble() - s.Recall) < 1e-12, $"{name}[{i}] R");
            }
            checkedCases++;
        }
        Assert.Equal(7, checkedCases);
    }

    [Theory]
    [InlineData("512,1k,2k", new[] { 512, 1024, 2048 })]
    [InlineData(" 4K , 256 ", new[] { 256, 4096 })]
    public void ParseMilestones_ReadsKAsX1024_Ascending(string text, int[] expected) =>
        Assert.Equal(expected, ContinuationEvaluator.ParseMilestones(text));

    [Theory]
    [InlineData("")]
    [InlineData("512,,1k")]
    [InlineData("abc")]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("1.5k")]
    [InlineData("512,512")]
    [InlineData("99999999999")]
    public void ParseMilestones_BadLists_AreOneLongLMException(string text) =>
        Assert.Throws<LongLMException>(() => ContinuationEvaluator.ParseMilestones(text));
}
