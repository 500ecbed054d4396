namespace LongLM.Cli.Commands;

/// <summary>
/// One row of `longlm bench`: one test (pp&lt;P&gt; or tg&lt;N&gt;) at one depth, thread count and attention mode, as a row
/// of llama-bench. Speeds are tokens per second of each timed repetition; memory figures are read at the row's end.
/// </summary>
/// <param name="Model">Model folder name.</param>
/// <param name="ModelType">config.json's model_type.</param>
/// <param name="SizeBytes">Bytes of every stored weight tensor (as llama-bench's "size").</param>
/// <param name="Params">Stored parameter count (tied embeddings once).</param>
/// <param name="Backend">Backend name.</param>
/// <param name="Threads">CPU backend threads (null on a GPU or ILGPU backend).</param>
/// <param name="Attention">The attention policy, as the model prints it ("vanilla", "lambda G=10 L=512 D=512" ...).</param>
/// <param name="Test">"pp" (one prefill call of <paramref name="Tokens"/> tokens) or "tg" (that many greedy decode steps).</param>
/// <param name="Tokens">P or N.</param>
/// <param name="Depth">Tokens already in the KV cache when the timed part starts (prefilled untimed, as llama-bench -d).</param>
/// <param name="Samples">Tokens per second of each repetition.</param>
/// <param name="WeightBytesPerToken">Weight bytes one decode step reads (see <see cref="BenchWeights"/>).</param>
/// <param name="PeakWorkingSetBytes">Peak resident set of the process during the row (see <paramref name="PeakScope"/>).</param>
/// <param name="PeakScope">"row": the peak was reset when the row began (Linux clear_refs); "process": since the process started.</param>
/// <param name="KvBytes">Bytes of the KV slots the sequence holds at the end of the last repetition (keys and values, every layer).</param>
/// <param name="KvAllocatedBytes">Bytes the KV cache has allocated at that point (its capacity grows by doubling).</param>
/// <param name="Profile">With --profile: where the timed repetitions' time went, per op.</param>
public sealed record BenchRow(
    string Model, string ModelType, long SizeBytes, long Params, string Backend, int? Threads, string Attention,
    string Test, int Tokens, int Depth, double[] Samples, long WeightBytesPerToken, long PeakWorkingSetBytes, string PeakScope,
    long KvBytes, long KvAllocatedBytes, BenchProfile? Profile = null)
{
    /// <summary>llama-bench's test name: "pp512", "tg128", with " @ d4096" at a depth.</summary>
    public string TestName => $"{Test}{Tokens}" + (Depth > 0 ? $" @ d{Depth}" : "");

    /// <summary>Mean tokens per second over the repetitions.</summary>
    public double MeanTokensPerSecond => Samples.Average();

    /// <summary>Sample standard deviation (n - 1, as llama-bench), 0 for one repetition.</summary>
    public double SdTokensPerSecond => Samples.Length < 2 ? 0
        : Math.Sqrt(Samples.Sum(s => (s - MeanTokensPerSecond) * (s - MeanTokensPerSecond)) / (Samples.Length - 1));

    /// <summary>Weight bytes read per second while decoding (tg rows only: a prefill reads each weight once per chunk, not per token).</summary>
    public double? WeightGBps => Test == "tg" ? WeightBytesPerToken * MeanTokensPerSecond / 1e9 : null;
}
