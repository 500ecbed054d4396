using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;
using LongLM.Runtime.Tokenization;

namespace LongLM.Runtime.Evaluation;

/// <summary>One milestone of a continuation evaluation.</summary>
/// <param name="Milestone">Prefix length m in tokens (BOS included when the tokenizer adds one).</param>
/// <param name="GeneratedIds">The greedy continuation's ids (fewer than asked when EOS came first).</param>
/// <param name="Prediction">The continuation decoded ("." when it is empty, as LM-Infinite scores it).</param>
/// <param name="Reference">The text's next tokens [m, m + tokens), decoded.</param>
/// <param name="Bleu">BLEU-4 of the prediction against the reference.</param>
/// <param name="RougeL">ROUGE-L of the prediction against the reference.</param>
/// <param name="StoppedAtEos">Generation ended at an EOS id before the token budget.</param>
public sealed record ContinuationPoint(int Milestone, IReadOnlyList<int> GeneratedIds, string Prediction, string Reference,
    BleuScore Bleu, RougeScore RougeL, bool StoppedAtEos);

/// <summary>
/// LM-Infinite's generation-quality protocol (its Table 3; LMI:scripts/eval_generation.py::main, algorithms.md 2.8):
/// for each milestone m the prefix is the document's tokens [0, m); the model continues it greedily for up to
/// <c>tokens</c> new tokens (stopping at EOS, as HF generate does); the prediction (decoded, special tokens skipped,
/// "." if empty) is scored against the decoded next <c>tokens</c> true tokens with BLEU-4 and ROUGE-L
/// (<see cref="GenerationMetrics"/>). Scores are over decoded words, not token ids, as in the source. Every
/// milestone starts from an empty cache, so milestones do not influence each other.
/// </summary>
public static class ContinuationEvaluator
{
    /// <summary>
    /// Parses a comma list of milestones: positive integers, optionally with a k suffix meaning x1024 (LM-Infinite's
    /// positions are 4096, 8192, ...). Duplicates are refused; the list is returned ascending.
    /// </summary>
    public static IReadOnlyList<int> ParseMilestones(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var values = TokenCountList.Parse(text, "--milestones", 1).ToList();
        values.Sort();
        return values;
    }

    /// <summary>
    /// Checks that every milestone leaves <paramref name="tokens"/> reference tokens in a text of
    /// <paramref name="available"/> tokens; throws a <see cref="LongLMException"/> naming the first that does not.
    /// </summary>
    public static void CheckFits(IReadOnlyList<int> milestones, int tokens, int available)
    {
        if (tokens <= 0) throw new LongLMException($"--tokens must be positive, got {tokens}");
        foreach (int m in milestones)
            if ((long)m + tokens > available)
                throw new LongLMException($"milestone {m} needs {(long)m + tokens} tokens ({m} of prefix + {tokens} of reference), but the text has {available}");
    }

    /// <summary>
    /// Runs every milestone on <paramref name="model"/>: <paramref name="ids"/> is the whole tokenized document
    /// (BOS first when the tokenizer adds one); <paramref name="stopIds"/> end a continuation early.
    /// <paramref name="progress"/> receives the number of milestones done.
    /// </summary>
    public static IReadOnlyList<ContinuationPoint> Evaluate(ICausalLM model, ModelTokenizer tokenizer, IReadOnlySet<int> stopIds,
        IReadOnlyList<int> ids, IReadOnlyList<int> milestones, int tokens, int prefillChunk = SequenceState.DefaultPrefillChunk,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(milestones);
        if (milestones.Count == 0) throw new LongLMException("no milestones given");
        CheckFits(milestones, tokens, ids.Count);
        var options = new GenerationOptions { MaxTokens = tokens, Sampling = SamplingOptions.Greedy, StopIds = stopIds, PrefillChunk = prefillChunk };
        var points = new List<ContinuationPoint>(milestones.Count);
        var all = ids as int[] ?? ids.ToArray();
        foreach (int m in milestones)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var session = new InferenceSession(model, tokenizer, stopIds);
            var generated = session.Generate(all[..m], options, cancellationToken).ToArray();
            bool eos = session.LastResult?.Finish == FinishReason.Stop;
            string prediction = tokenizer.Decode(generated);
            if (prediction.Length == 0) prediction = ".";
            string reference = tokenizer.Decode(all.AsSpan(m, tokens));
            points.Add(new ContinuationPoint(m, generated, prediction, reference,
                GenerationMetrics.Bleu([prediction], [reference]), GenerationMetrics.RougeL(prediction, reference), eos));
            progress?.Report(points.Count);
        }
        return points;
    }
}
