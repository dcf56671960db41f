"""ember.d2l, chapter 10: the English-French data, the encoder-decoder, seq2seq and BLEU.

Expected numbers (vocabulary sizes, array sums, histogram counts, BLEU scores, losses) are the
ones d2l 1.0.3 on PyTorch 2.13 prints for the same calls.
"""
import math
import os

import numpy as np
import pytest

import ember as torch
from ember import d2l, nn

DATA = os.environ.get("EMBER_DATA", "/work/shared/data")
needs_fra_eng = pytest.mark.skipif(not os.path.isfile(os.path.join(DATA, "d2l", "fra-eng.zip")),
                                   reason="needs $EMBER_DATA/d2l/fra-eng.zip")


@pytest.fixture(scope="module")
def data():
    """The book's data set: MTFraEng(batch_size=3), 512 + 128 examples of 9 steps."""
    mp = pytest.MonkeyPatch()
    mp.setenv("EMBER_DATA", DATA)
    try:
        yield d2l.MTFraEng(batch_size=3)
    finally:
        mp.undo()


# ---- the data set --------------------------------------------------------------------------------
def test_preprocess_spaces_punctuation_and_lowers():
    mt = d2l.MTFraEng.__new__(d2l.MTFraEng)
    text = "Go.\tVa !\nRun!\tCours\u202f!\nWow!\tÇa alors\xa0!\n?Who, me?\tQui, moi ?"
    assert mt._preprocess(text) == ("go .\tva !\nrun !\tcours !\nwow !\tça alors !\n"
                                    " ?who , me ?\tqui , moi ?")
    assert d2l.preprocess_nmt(text) == mt._preprocess(text)
    assert mt._preprocess("...") == ". . ."  # every mark not after a space gets one


def test_tokenize_appends_eos_and_reads_max_examples_plus_one_lines():
    mt = d2l.MTFraEng.__new__(d2l.MTFraEng)
    text = "go .\tva !\nhi  .\tsalut !\nbad line\nrun !\tcours !\n"
    src, tgt = mt._tokenize(text)
    assert src == [["go", ".", "<eos>"], ["hi", ".", "<eos>"], ["run", "!", "<eos>"]]
    assert tgt[1] == ["salut", "!", "<eos>"]
    # d2l's bound is inclusive (lines 0..max_examples); lines without one tab are skipped
    assert len(mt._tokenize(text, max_examples=1)[0]) == 2
    assert len(mt._tokenize(text, max_examples=2)[0]) == 2
    # the older tokenize_nmt keeps empty tokens and adds no <eos>
    assert d2l.tokenize_nmt(text)[0][1] == ["hi", "", "."]


@needs_fra_eng
def test_mtfraeng_with_the_books_settings(data):
    assert (len(data.src_vocab), len(data.tgt_vocab)) == (194, 214)
    src, tgt_in, src_len, tgt_out = data.arrays
    assert [tuple(a.shape) for a in data.arrays] == [(641, 9), (641, 9), (641,), (641, 9)]
    assert all(a.dtype == torch.int64 for a in data.arrays)
    assert [int(a.sum()) for a in data.arrays] == [135627, 155138, 2624, 156418]
    assert src[:3].tolist() == [[59, 2, 3, 4, 4, 4, 4, 4, 4], [71, 2, 3, 4, 4, 4, 4, 4, 4],
                                [135, 0, 3, 4, 4, 4, 4, 4, 4]]
    assert tgt_in[:2].tolist() == [[3, 201, 0, 4, 5, 5, 5, 5, 5], [3, 176, 0, 4, 5, 5, 5, 5, 5]]
    # the decoder's input is the label shifted right by one step, behind <bos>
    assert (tgt_in[:, 1:] == tgt_out[:, :-1]).all()
    assert (tgt_in[:, 0] == data.tgt_vocab["<bos>"]).all()
    assert (src_len == (src != data.src_vocab["<pad>"]).sum(1)).all()

    batch = next(iter(data.train_dataloader()))
    shapes = [tuple(a.shape) for a in batch]
    assert shapes == [(3, 9), (3, 9), (3,), (3, 9)]
    assert len(data.train_dataloader()) == 171 and len(data.val_dataloader()) == 43


@needs_fra_eng
def test_build_uses_the_data_sets_vocabularies(data):
    src, tgt, src_valid_len, label = data.build(["hi .", "i'm home ."],
                                                ["salut .", "je suis chez moi ."])
    assert src.tolist() == [[71, 2, 3, 4, 4, 4, 4, 4, 4], [86, 76, 2, 3, 4, 4, 4, 4, 4]]
    assert tgt.tolist() == [[3, 176, 2, 4, 5, 5, 5, 5, 5], [3, 108, 183, 47, 129, 2, 4, 5, 5]]
    assert src_valid_len.tolist() == [3, 4]
    assert label[1].tolist() == [108, 183, 47, 129, 2, 4, 5, 5, 5]
    assert data.src_vocab.to_tokens(src[0].tolist())[:4] == ["hi", ".", "<eos>", "<pad>"]
    with pytest.raises(ValueError, match="2 source sentences but 1 target"):
        data.build(["hi .", "go ."], ["salut ."])


@needs_fra_eng
def test_mtfraeng_other_settings(monkeypatch):
    monkeypatch.setenv("EMBER_DATA", DATA)
    data = d2l.MTFraEng(batch_size=128, num_steps=12, num_train=1000, num_val=200)
    assert (len(data.src_vocab), len(data.tgt_vocab)) == (313, 384)
    assert tuple(data.arrays[0].shape) == (1201, 12)


@needs_fra_eng
def test_show_list_len_pair_hist_counts(data, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBER_FIGURES", str(tmp_path))
    plt = d2l.plt
    # the first 641 lines lie well within the first 100 kB
    src, tgt = data._tokenize(data._preprocess(data._download()[:100_000]), 640)
    d2l.show_list_len_pair_hist(["source", "target"], "# tokens per sequence", "count", src, tgt)
    ax = plt.gcf().axes[0]
    heights = [int(p.get_height()) for p in ax.patches]
    assert heights[:10] == [35, 511, 0, 95, 0, 0, 0, 0, 0, 0]
    assert heights[10:] == [171, 198, 0, 204, 0, 46, 15, 0, 5, 2]
    assert all(p.get_hatch() == "/" for p in ax.patches[10:])
    assert ax.get_xlabel() == "# tokens per sequence"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["source", "target"]
    assert [f for f in os.listdir(tmp_path) if f.endswith("list_len_pair_hist.png")]
    plt.close("all")


# ---- the encoder-decoder -------------------------------------------------------------------------
class _ContextGRUDecoder(d2l.Decoder):
    """A GRU decoder that sees the encoder's last top-layer state at every step (for tests)."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.gru = d2l.GRU(embed_size + num_hiddens, num_hiddens, num_layers, dropout)
        self.out = nn.LazyLinear(vocab_size)
        self.apply(d2l.init_seq2seq)

    def init_state(self, enc_all_outputs, *args):
        outputs, hidden = enc_all_outputs
        return outputs[-1], hidden

    def forward(self, X, state):
        context, hidden = state
        steps = self.embed(X.t().long())  # (num_steps, batch_size, embed_size)
        context_per_step = context.unsqueeze(0).expand(steps.shape[0], -1, -1)
        outputs, hidden = self.gru(torch.cat([steps, context_per_step], dim=2), hidden)
        return self.out(outputs).transpose(0, 1), (context, hidden)


def test_seq2seq_encoder_shapes():
    vocab_size, embed_size, num_hiddens, num_layers = 10, 8, 16, 2
    batch_size, num_steps = 4, 9
    encoder = d2l.Seq2SeqEncoder(vocab_size, embed_size, num_hiddens, num_layers)
    X = torch.zeros((batch_size, num_steps))
    enc_outputs, enc_state = encoder(X)
    d2l.check_shape(enc_outputs, (num_steps, batch_size, num_hiddens))
    d2l.check_shape(enc_state, (num_layers, batch_size, num_hiddens))
    decoder = _ContextGRUDecoder(vocab_size, embed_size, num_hiddens, num_layers)
    dec_outputs, state = decoder(X, decoder.init_state(encoder(X)))
    d2l.check_shape(dec_outputs, (batch_size, num_steps, vocab_size))
    d2l.check_shape(state[1], (num_layers, batch_size, num_hiddens))


def test_base_interfaces_are_abstract():
    with pytest.raises(NotImplementedError):
        d2l.Encoder()(torch.zeros(1))
    with pytest.raises(NotImplementedError):
        d2l.Decoder().init_state(None)
    with pytest.raises(NotImplementedError):
        d2l.Decoder()(torch.zeros(1), None)
    assert issubclass(d2l.EncoderDecoder, d2l.Classifier)
    assert issubclass(d2l.Seq2Seq, d2l.EncoderDecoder)


def test_init_seq2seq_is_xavier_uniform_on_linear_and_gru_weights():
    torch.manual_seed(0)
    linear, gru = nn.Linear(20, 30), nn.GRU(6, 10)
    bias = linear.bias.detach().clone()
    linear.apply(d2l.init_seq2seq), gru.apply(d2l.init_seq2seq)
    bound = math.sqrt(6 / (20 + 30))
    w = linear.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert torch.equal(linear.bias.detach(), bias)  # biases keep their default init
    w_ih = gru.weight_ih_l0.detach().numpy()
    assert np.abs(w_ih).max() <= math.sqrt(6 / (6 + 30)) + 1e-7
    assert np.abs(w_ih).max() > 0.5 * 1 / math.sqrt(10)  # not PyTorch's U(+-1/sqrt(10)) default


def test_seq2seq_loss_is_d2ls_until_the_book_masks_it():
    model = d2l.Seq2Seq(d2l.Encoder(), d2l.Decoder(), tgt_pad=0, lr=0.1)
    torch.manual_seed(1)
    Y_hat = torch.randn(2, 3, 5)
    Y = torch.tensor([[4, 2, 0], [1, 0, 0]])
    # as d2l's torch.py: the Classifier loss over every token, padding included
    plain = nn.functional.cross_entropy(Y_hat.reshape(-1, 5), Y.reshape(-1))
    assert torch.allclose(model.loss(Y_hat, Y), plain)

    class Masked(d2l.Seq2Seq):
        pass

    @d2l.add_to_class(Masked)  # the book's cell in the seq2seq section
    def loss(self, Y_hat, Y):
        l = super(Masked, self).loss(Y_hat, Y, averaged=False)
        mask = (Y.reshape(-1) != self.tgt_pad).type(torch.float32)
        return (l * mask).sum() / mask.sum()

    model = Masked(d2l.Encoder(), d2l.Decoder(), tgt_pad=0, lr=0.1)
    _check_masked_loss(model)


def _check_masked_loss(model):
    torch.manual_seed(1)
    Y_hat = torch.randn(2, 3, 5)
    Y = torch.tensor([[4, 2, 0], [1, 0, 0]])
    per_token = nn.functional.cross_entropy(Y_hat.reshape(-1, 5), Y.reshape(-1), reduction="none")
    keep = [0, 1, 3]
    expected = per_token[keep].mean()
    assert torch.allclose(model.loss(Y_hat, Y), expected)
    # the padded positions' logits do not matter
    Y_hat2 = Y_hat.clone()
    Y_hat2[0, 2] = 100.0
    Y_hat2[1, 1:] = -50.0
    assert torch.allclose(model.loss(Y_hat2, Y), expected)


@needs_fra_eng
def test_seq2seq_trains_on_a_subset_and_predicts(monkeypatch):
    monkeypatch.setenv("EMBER_DATA", DATA)
    torch.manual_seed(0)
    data = d2l.MTFraEng(batch_size=32, num_train=96, num_val=32)
    encoder = d2l.Seq2SeqEncoder(len(data.src_vocab), 32, 32, 1)
    decoder = _ContextGRUDecoder(len(data.tgt_vocab), 32, 32, 1)
    model = d2l.Seq2Seq(encoder, decoder, tgt_pad=data.tgt_vocab["<pad>"], lr=0.01)
    model.board.display = False
    assert isinstance(model.configure_optimizers(), torch.optim.Adam)
    val = next(iter(data.val_dataloader()))

    def val_loss():
        with torch.no_grad():
            return float(model.loss(model(*val[:-1]), val[-1]))

    before = val_loss()
    assert abs(before - math.log(len(data.tgt_vocab))) < 0.5  # untrained: about uniform
    d2l.Trainer(max_epochs=4, gradient_clip_val=1, quiet=True).fit(model, data)
    assert val_loss() < before - 1.0

    engs = ["go .", "i lost .", "he's calm .", "i'm home ."]
    fras = ["va !", "j'ai perdu .", "il est calme .", "je suis chez moi ."]
    preds, attention = model.predict_step(data.build(engs, fras), d2l.cpu(), data.num_steps)
    assert tuple(preds.shape) == (4, data.num_steps) and attention == []
    for p, fr in zip(preds, fras):
        translation = []
        for token in data.tgt_vocab.to_tokens(p):
            if token == "<eos>":
                break
            translation.append(token)
        assert 0.0 <= d2l.bleu(" ".join(translation), fr, k=2) <= 1.0


def test_predict_step_feeds_back_its_own_tokens_and_saves_attention():
    class Echo(d2l.Decoder):
        """Predicts token (input + 1) % 5 and reports the step as its attention weights."""

        def init_state(self, enc_all_outputs, *args):
            return 0

        def forward(self, X, state):
            self.attention_weights = torch.tensor(float(state))
            return nn.functional.one_hot((X + 1) % 5, 5).float(), state + 1

    class Null(d2l.Encoder):
        def forward(self, X, *args):
            return X

    model = d2l.EncoderDecoder(Null(), Echo())
    src = torch.zeros((2, 3), dtype=torch.int64)
    tgt = torch.tensor([[1, 0, 0], [3, 0, 0]])
    preds, weights = model.predict_step((src, tgt, torch.tensor([3, 3]), tgt), "cpu", 4,
                                        save_attention_weights=True)
    assert preds.tolist() == [[2, 3, 4, 0], [4, 0, 1, 2]]
    assert [float(w) for w in weights] == [0.0, 1.0, 2.0, 3.0]


# ---- BLEU ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("pred, label, scores", [
    ("je suis chez moi .", "je suis chez moi .", [1.0, 1.0, 1.0, 1.0]),
    ("je suis <unk> .", "je suis calme .", [0.8660254037844386, 0.6580370064762462, 0.0, 0.0]),
    ("a b c d", "a b a b c", [0.6744612626270504, 0.6094445482670284, 0.5588631148699095, 0.0]),
    ("a a a a", "a a b", [0.7071067811865476, 0.537284965911771, 0.0, 0.0]),
    ("x", "a b c d", [0.0, 0.0, 0.0, 0.0]),
])
def test_bleu_matches_d2l(pred, label, scores):
    assert [d2l.bleu(pred, label, k) for k in (1, 2, 3, 4)] == pytest.approx(scores, abs=1e-12)


# ---- the older API (d2l's utilities section) -----------------------------------------------------
def test_sequence_mask_in_place():
    X = torch.tensor([[1, 2, 3], [4, 5, 6]])
    assert d2l.sequence_mask(X, torch.tensor([1, 2])) is X
    assert X.tolist() == [[1, 0, 0], [4, 5, 0]]
    X = torch.ones(2, 3, 4)
    d2l.sequence_mask(X, torch.tensor([1, 2]), value=-1)
    assert X[:, :, 0].tolist() == [[1, -1, -1], [1, 1, -1]]
    with pytest.raises(ValueError, match="valid_len has shape"):
        d2l.sequence_mask(torch.ones(2, 3), torch.tensor([1, 2, 3]))


def test_masked_softmax_ce_loss():
    loss = d2l.MaskedSoftmaxCELoss()
    out = loss(torch.ones(3, 4, 10), torch.ones((3, 4), dtype=torch.long), torch.tensor([4, 2, 0]))
    assert out.tolist() == pytest.approx([2.3025851249694824, 1.1512925624847412, 0.0])


def test_truncate_pad_and_build_array_nmt():
    assert d2l.truncate_pad([1, 2], 4, 0) == [1, 2, 0, 0]
    assert d2l.truncate_pad([1, 2, 3, 4, 5], 3, 0) == [1, 2, 3]
    vocab = d2l.Vocab([["a", "b"], ["a"]], reserved_tokens=["<pad>", "<bos>", "<eos>"])
    array, valid_len = d2l.build_array_nmt([["a", "b"], ["b", "a", "a", "a"]], vocab, 4)
    eos, pad = vocab["<eos>"], vocab["<pad>"]
    assert array.tolist() == [[vocab["a"], vocab["b"], eos, pad], [vocab["b"]] + [vocab["a"]] * 3]
    assert valid_len.tolist() == [3, 4] and valid_len.dtype == torch.int64


@needs_fra_eng
def test_load_data_nmt(monkeypatch):
    monkeypatch.setenv("EMBER_DATA", DATA)
    assert d2l.read_data_nmt()[:31] == "Go.\tVa !\nHi.\tSalut !\nRun!\tCours"
    train_iter, src_vocab, tgt_vocab = d2l.load_data_nmt(batch_size=2, num_steps=8)
    assert (len(src_vocab), len(tgt_vocab)) == (184, 201)
    assert src_vocab.to_tokens(list(range(8))) == ["!", ",", ".", "<bos>", "<eos>", "<pad>",
                                                   "<unk>", "?"]
    X, X_valid_len, Y, Y_valid_len = next(iter(train_iter))
    assert [tuple(a.shape) for a in (X, X_valid_len, Y, Y_valid_len)] == [(2, 8), (2,), (2, 8),
                                                                          (2,)]
    assert X.dtype == torch.int64


def test_train_and_predict_seq2seq_older_api(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMBER_FIGURES", str(tmp_path))
    torch.manual_seed(0)
    reserved = ["<pad>", "<bos>", "<eos>"]
    src = [["a", "b"], ["b", "c"], ["c", "a"]] * 4
    tgt = [["x", "y"], ["y", "z"], ["z", "x"]] * 4
    src_vocab = d2l.Vocab(src, reserved_tokens=reserved)
    tgt_vocab = d2l.Vocab(tgt, reserved_tokens=reserved)
    X, X_len = d2l.build_array_nmt(src, src_vocab, 4)
    Y, Y_len = d2l.build_array_nmt(tgt, tgt_vocab, 4)
    data_iter = d2l.load_array((X, X_len, Y, Y_len), 4)

    class Net(d2l.EncoderDecoder):
        def forward(self, enc_X, dec_X, *args):  # the older API returns (output, state)
            state = self.decoder.init_state(self.encoder(enc_X, *args), *args)
            return self.decoder(dec_X, state)

    net = Net(d2l.Seq2SeqEncoder(len(src_vocab), 8, 16, 1),
              _ContextGRUDecoder(len(tgt_vocab), 8, 16, 1))
    d2l.train_seq2seq(net, data_iter, 0.02, 20, tgt_vocab, d2l.cpu())
    assert capsys.readouterr().out.startswith("loss ")
    translation, weights = d2l.predict_seq2seq(net, "A b", src_vocab, tgt_vocab, 4, d2l.cpu())
    assert translation == "x y" and weights == []
    d2l.plt.close("all")
