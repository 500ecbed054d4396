namespace LongLM.Runtime.Tokenization;

/// <summary>A tokenizer.json "added_tokens" entry: text matched whole in the input before BPE runs.</summary>
/// <param name="Id">Its id.</param>
/// <param name="Content">Its text.</param>
/// <param name="Special">A control token (BOS, EOS, chat markers) rather than an ordinary vocabulary addition.</param>
/// <param name="Normalized">Matched in the normalised text (true) or in the raw input (false).</param>
/// <param name="LStrip">The match swallows whitespace on its left.</param>
/// <param name="RStrip">The match swallows whitespace on its right.</param>
/// <param name="SingleWord">Matches only when not inside a word.</param>
internal sealed record AddedToken(int Id, string Content, bool Special, bool Normalized, bool LStrip, bool RStrip, bool SingleWord);
