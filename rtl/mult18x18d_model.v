// Simulation model of the ECP5 MULT18X18D as rtl/dsp.py configures it (Yosys ships only a black
// box): each of the A, B and P registers is in the path when its REG_*_CLK is CLK0, loads at a
// CLK0 edge with CE0 and clears at one with RST0; the product is of A and B extended by
// SIGNEDA / SIGNEDB (Lattice TN1267, sysDSP). The C input, cascades, CLK1-3 and the pipeline
// register are not modelled.
module MULT18X18D(
  input A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0,
  input B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0,
  input C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0,
  input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK0, CE0, RST0,
  output P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0);
  parameter REG_INPUTA_CLK = "NONE";
  parameter REG_INPUTA_CE = "CE0";
  parameter REG_INPUTA_RST = "RST0";
  parameter REG_INPUTB_CLK = "NONE";
  parameter REG_INPUTB_CE = "CE0";
  parameter REG_INPUTB_RST = "RST0";
  parameter REG_OUTPUT_CLK = "NONE";
  parameter REG_OUTPUT_CE = "CE0";
  parameter REG_OUTPUT_RST = "RST0";
  parameter GSR = "ENABLED";
  parameter RESETMODE = "SYNC";
  wire [17:0] a_in = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
  wire [17:0] b_in = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
  reg [17:0] a_reg, b_reg;
  reg [35:0] p_reg;
  wire [17:0] a = REG_INPUTA_CLK == "CLK0" ? a_reg : a_in;
  wire [17:0] b = REG_INPUTB_CLK == "CLK0" ? b_reg : b_in;
  wire signed [18:0] a_ext = {SIGNEDA & a[17], a};
  wire signed [18:0] b_ext = {SIGNEDB & b[17], b};
  wire signed [37:0] product = a_ext * b_ext;
  always @(posedge CLK0) begin
    if (RST0) begin
      a_reg <= 0; b_reg <= 0; p_reg <= 0;
    end else if (CE0) begin
      a_reg <= a_in; b_reg <= b_in; p_reg <= product[35:0];
    end
  end
  assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = REG_OUTPUT_CLK == "CLK0" ? p_reg : product[35:0];
endmodule
