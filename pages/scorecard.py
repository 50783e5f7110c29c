"""scorecard page (being built)."""
import streamlit as st

st.title("scorecard")
st.info("This page is being built.")
