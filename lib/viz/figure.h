// What a model shows of itself for one input, and how `zoo visualize` draws it. A model returns
// figures (each family's look(), beside its code in models/); the task supplies what only it
// knows (the image as the model saw it, the tokens along each axis) and renders them without
// knowing the model's class.
#pragma once
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace zoo::viz {

// What a token map's rows or columns run along; the task labels each from its tokenizer.
enum class Axis {
  Tokens,       // a language model's input
  Source,       // a translator's source tokens and <eos>
  Target,       // its output tokens and <eos>
  TargetInput,  // <bos> and its output tokens: what the decoder reads
};

struct Figure {
  enum class Kind {
    OverImage,    // maps (h, w), each tiling the model's input square, blended over the image
    Attention,    // maps[l] (heads, rows, cols) per layer: layers down, heads across
    Alignment,    // maps[0] (rows, cols): one matrix with its labels
    Activations,  // maps[0] (units, tokens) in [-1, 1], a name per unit: the text coloured by each
  };
  Kind kind = Kind::OverImage;
  std::string title;
  std::vector<torch::Tensor> maps;  // on the CPU; OverImage: an undefined map leaves its tile blank
  std::vector<std::string> labels;  // OverImage: one per map; Activations: one per unit
  int columns = 0;                  // OverImage: tiles per row
  std::optional<cv::Point> marker;  // OverImage: the query position, in input pixels
  std::vector<cv::Rect2d> boxes;    // OverImage: one per map, outlined on its tile (a detected object); or none
  std::vector<cv::Mat> frames;      // OverImage: one RGB image per map (a clip's frames); or none: the context's image under each
  bool shared_scale = false;        // OverImage: every map divided by the largest of all (tiles compare), not each by its own
  Axis rows = Axis::Tokens, cols = Axis::Tokens;
  std::string suffix;  // "" for the main PNG; "encoder": beside it as NAME_encoder.png
};

// What `zoo visualize` asks of a model (its flags), with the model's name for messages.
struct LookOptions {
  std::string model;               // "vit_tiny_patch4_32"
  int64_t layer = -1;              // --layer; -1: the last
  std::optional<cv::Point> query;  // --query X,Y in input pixels (the task fills in the centre)
  std::vector<int64_t> units;      // --units; empty: the 8 that vary most
  std::string signal = "h";        // --signal

  // --layer as an index into `count` layers (negative from the end); UsageError "invalid --layer
  // 5: OWNER has 2 layers" past either end.
  int64_t layer_index(int64_t count, const std::string& owner) const;
};

// What only the task knows: the image the model saw (RGB uint8) and the tokens along each axis
// (as the tokenizer has them; a space and a line break are made visible for the labels).
struct FigureContext {
  cv::Mat image;
  std::map<Axis, std::vector<std::string>> tokens;
};

// --query X,Y: a pixel position; UsageError naming the text (and `what` the pixels are of) when it
// is not two non-negative integers.
cv::Point parse_query(const std::string& text, const std::string& what = "the model's input");

// "head 3, max 0.412": a tile's label with its map's largest weight.
std::string with_peak(const std::string& label, const torch::Tensor& map);

// Draws one figure (BGR image).
cv::Mat render(const Figure& figure, const FigureContext& context);

// Writes every figure as PNG: the one without a suffix to `out_png`, each other beside it as
// STEM_SUFFIX.png; returns the paths written, the main one first.
std::vector<std::string> write_figures(const std::vector<Figure>& figures, const FigureContext& context, const std::string& out_png);

}  // namespace zoo::viz
