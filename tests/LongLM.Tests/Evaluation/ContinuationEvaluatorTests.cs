using System.Text.Json;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Evaluation;

namespace LongLM.Tests.Evaluation;

/// <summary>
/// The continuation protocol on stories260K. The expected ids come from llama2.c (the model folder's
/// expected_greedy_200.json: run.c's greedy continuation of BOS), not from LongLM: a document that is the model's own
/// greedy output must be continued exactly, so every milestone scores BLEU = ROUGE-L = 1.
/// </summary>
public class ContinuationEvaluatorTests
{
    private static int[] GoldenDocument()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(ModelFolderCopy.Stories260K, "expected_greedy_200.json")));
        return [1, .. doc.RootElement.GetProperty("greedy_ids").EnumerateArray().Select(e => e.GetInt32())];
    }

    [Fact]
    public void OwnGreedyText_IsContinuedExactly_AtEveryMilestone()
    {
        using var lm = LanguageModel.Load(ModelFolderCopy.Stories260K);
        int[] ids = GoldenDocument(); // 201 ids: BOS + 200 greedy
        var points = ContinuationEvaluator.Evaluate(lm.Model, lm.Tokenizer, lm.StopIds, ids, [20, 64, 120], 40);
        Assert.Equal([20, 64, 120], points.Select(p => p.Milestone));
        foreach (var p in points)
        {
            // Prefix [0, m) then 40 greedy ids must be the golden's ids [m, m + 40); the reference is those ids decoded.
            Assert.Equal(ids[p.Milestone..(p.Milestone + 40)], p.GeneratedIds);
            Assert.Equal(lm.Tokenizer.Decode(ids.AsSpan(p.Milestone, 40)), p.Reference);
            Assert.Equal(p.Reference, p.Prediction);
            Assert.Equal(1, p.Bleu.Score, 12);
            Assert.Equal(1, p.RougeL.F, 12);
            Assert.False(p.StoppedAtEos);
        }
    }

    [Fact]
    public void MilestonePastTheText_IsOneLongLMException()
    {
        using var lm = LanguageModel.Load(ModelFolderCopy.Stories260K);
        int[] ids = GoldenDocument();
        // 170 + 40 = 210 > 201 ids.
        var e = Assert.Throws<LongLMException>(() => ContinuationEvaluator.Evaluate(lm.Model, lm.Tokenizer, lm.StopIds, ids, [20, 170], 40));
        Assert.Contains("milestone 170 needs 210 tokens", e.Message);
        Assert.Throws<LongLMException>(() => ContinuationEvaluator.Evaluate(lm.Model, lm.Tokenizer, lm.StopIds, ids, [20], 0));
    }
}
