namespace LongLM.Runtime.Inference;

/// <summary>Why a generation ended.</summary>
public enum FinishReason
{
    /// <summary>The model emitted a stop id (EOS or the chat template's end-of-turn token).</summary>
    Stop,
    /// <summary>The token budget (<see cref="GenerationOptions.MaxTokens"/>) ran out.</summary>
    Length,
    /// <summary>A stop string (<see cref="GenerationOptions.StopSequences"/>) appeared in the text.</summary>
    StopSequence,
    /// <summary>The caller cancelled, or stopped reading the stream, before any of the above.</summary>
    Cancelled,
}

/// <summary>What one generation call did: token counts, why it ended, and where the time went.</summary>
/// <param name="PromptTokens">Ids of the prompt given to the call.</param>
/// <param name="PrefilledTokens">Ids actually run by the prefill (the prompt, plus a pending id left by a previous call).</param>
/// <param name="GeneratedTokens">Ids generated (emitted), stop id excluded.</param>
/// <param name="Finish">Why it ended.</param>
/// <param name="StopSequence">The stop string that ended it, when <paramref name="Finish"/> is <see cref="FinishReason.StopSequence"/>.</param>
/// <param name="PrefillTime">Time spent running the prompt.</param>
/// <param name="DecodeTime">Time spent generating after the prompt (sampling and one forward per token).</param>
public sealed record GenerationResult(int PromptTokens, int PrefilledTokens, int GeneratedTokens, FinishReason Finish,
    string? StopSequence, TimeSpan PrefillTime, TimeSpan DecodeTime);

/// <summary>One generated id and the text it completes (empty while a UTF-8 character or a possible stop string is incomplete).</summary>
/// <param name="Id">The id, or -1 for the decoder's final text after the last id.</param>
/// <param name="Text">Text to show now.</param>
public readonly record struct GeneratedToken(int Id, string Text);
