"""data page (being built)."""
import streamlit as st

st.title("data")
st.info("This page is being built.")
