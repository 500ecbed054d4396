using LongLM.Kernels;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Config;

namespace LongLM.Runtime.Inference;

/// <summary>Which logits rows a forward call returns.</summary>
public enum LogitsRows
{
    /// <summary>Only the last token's (decode, generation).</summary>
    Last,
    /// <summary>Every token's (scoring, perplexity, the logits command).</summary>
    All,
}

/// <summary>
/// A decoder-only language model bound to a backend: one file per family implements it. The model is immutable
/// and shared: any number of <see cref="SequenceState"/>s run on it from any number of threads.
/// </summary>
public interface ICausalLM : IDisposable
{
    /// <summary>The model's config.json.</summary>
    ModelConfig Config { get; }

    /// <summary>The backend the weights live on.</summary>
    IBackend Backend { get; }

    /// <summary>The attention policy the model runs with (vanilla, window, LM-Infinite ...).</summary>
    AttentionPolicy Policy { get; }

    /// <summary>
    /// The context length the model handles under vanilla attention: the trained length, times the rope_scaling
    /// factor where the scaling extends it.
    /// </summary>
    long ContextLength { get; }

    /// <summary>
    /// Raised once per model, the first time a call under vanilla attention goes past <see cref="ContextLength"/>;
    /// the message points to LM-Infinite.
    /// </summary>
    event Action<string>? Warning;

    /// <summary>The warning raised so far, if any (see <see cref="Warning"/>).</summary>
    string? LastWarning { get; }

    /// <summary>A new empty sequence (KV cache and buffers); its first token sits at <paramref name="firstPosition"/>.</summary>
    /// <exception cref="ObjectDisposedException">The model was disposed.</exception>
    SequenceState CreateSequence(long firstPosition = 0);

    /// <summary>
    /// One logical forward call, as HF's <c>model(input_ids, past_key_values)</c>: runs <paramref name="ids"/> at the
    /// sequence's next positions, appends their keys and values, and writes float32 logits ([1 or ids.Length,
    /// vocab_size]) into <paramref name="logits"/>. Internally the ids go through the layers in chunks of the
    /// sequence's <see cref="SequenceState.PrefillChunk"/>, which bounds memory and never changes a number;
    /// <paramref name="cancellationToken"/> is honoured between chunks (the chunks already run stay in the sequence).
    /// </summary>
    /// <exception cref="LongLMException">Bad ids, a call past the model's limits, or non-finite logits.</exception>
    /// <exception cref="ObjectDisposedException">The model or the sequence was disposed.</exception>
    void Forward(ReadOnlySpan<int> ids, SequenceState sequence, Span<float> logits, LogitsRows rows, CancellationToken cancellationToken = default);

    /// <summary>
    /// The same logical call as <see cref="Forward"/> without the output head: writes the mean over
    /// <paramref name="ids"/> of the final hidden states (after the final norm), [hidden_size], into
    /// <paramref name="meanHidden"/>; the ids' keys and values are appended to the sequence as usual.
    /// </summary>
    /// <exception cref="LongLMException">Bad ids, a call past the model's limits, or non-finite hidden states.</exception>
    void ForwardHidden(ReadOnlySpan<int> ids, SequenceState sequence, Span<float> meanHidden, CancellationToken cancellationToken = default);
}
